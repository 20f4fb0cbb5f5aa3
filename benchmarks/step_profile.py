"""Where EDRNet's SEL training step spends its time: ablation timings of its pieces, printed as JSON.

Every row times one XLA-compiled (``jit_compile=True``) function on the same batch (default 64 videos of
10 segments, random features, AVE-like labels) on the backend of ``--backend`` (TensorFlow by default),
best and median of ``--repeats`` calls after two warm-up calls, alternated with a 4096x4096 float32 XLA
matmul so that every row's time can be read as a fraction of the matmul rate on the same load:

* ``step``: ``model.train_on_batch`` with the SEL objective, as ``benchmarks/train_step.py`` times it;
  ``step_no_jit`` the same with ``jit_compile=False`` (TF graph, oneDNN kernels);
* ``step_ce_only``: the same step with the cross entropy only (no Land-Shore-Sea loss);
* ``step_no_normalization`` / ``step_no_dropout``: the step of a model built with
  ``normalize_inputs=False`` / ``dropout=input_dropout=0`` (ablations: these change the model);
* ``grads``: forward + backward of the SEL loss, no optimizer (so ``step - grads`` is Adam and Keras);
* ``forward``: the model's training-mode forward pass and SEL loss, no gradient;
* ``visual_grads``: forward + kernel gradient of the visual encoder alone (Normalization, Conv2D 3x3
  512->512 on the 7x7 maps folded over segments, GAP; loss = sum of the pooled features);
  ``visual_forward`` its forward pass; ``visual_grads_im2col`` the same function written as one matmul
  over the nine shifted copies of the zero-padded maps (the im2col form, to see what XLA's convolution
  leaves on the table);
* ``temporal_grads``: forward + backward of everything after the visual pooling (the twelve Conv1D /
  Conv1DTranspose layers, gate, head, dropout and the SEL loss) on given pooled visual features;
* ``lss_grads``: the Land-Shore-Sea loss and its gradient alone on [B, 10, d] features;
* ``adam``: one Adam update of the 39 M parameters (``optimizer.apply`` on given gradients).

``--backend jax`` (rows ``step``, ``step_no_dropout``, ``grads``, ``forward``, ``visual_forward``,
``visual_grads``, ``visual_grads_im2col``, ``dropout_bits``) times the same pieces with ``jax.jit`` /
``jax.grad`` (``model.stateless_call``; inputs passed as arguments, never closed over: a closed-over
batch becomes an HLO constant and XLA compiles it differently), against a ``jax.jit`` matmul.
``dropout_bits`` draws the dropout masks of one step (24 Bernoulli masks of [B, 10, 768], threefry).
``ynn_ablation``: one SEL step (forward without dropout, backward, Adam; ``stateless_call`` /
``stateless_apply``) lowered once and compiled twice, with XLA's default CPU options and with YNNPACK
fusions limited to single dots (``xla_cpu_experimental_ynn_fusion_type=LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT``,
so convolutions go to Eigen), timed alternately in one process: two rows and their per-pair ratio.
Set ``XLA_FLAGS`` as usual to compare XLA options, e.g. ``--xla_cpu_experimental_ynn_fusion_type=``
(no YNNPACK fusions; docs/benchmarks.md, "Why the JAX step is slower than TF's on CPU").

    python benchmarks/step_profile.py                       # TF, batch 64
    python benchmarks/step_profile.py --rows step visual_grads visual_grads_im2col --repeats 5
    python benchmarks/step_profile.py --backend jax --rows step visual_forward visual_grads --matmul-size 2048
"""

import argparse
import json
import os
import platform
import time

import numpy as np

ROWS = ("step", "step_no_jit", "step_ce_only", "step_no_normalization", "step_no_dropout", "grads", "forward",
        "visual_grads", "visual_forward", "visual_grads_im2col", "temporal_grads", "lss_grads", "adam")
JAX_ROWS = ("step", "step_no_dropout", "grads", "forward", "visual_forward", "visual_grads", "visual_grads_im2col",
            "dropout_bits", "ynn_ablation")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("tensorflow", "jax"), default="tensorflow")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--rows", nargs="+", choices=ROWS + ("dropout_bits", "ynn_ablation"),
                        help="default: every row of the backend (JAX: JAX_ROWS)")
    parser.add_argument("--matmul-size", type=int, default=4096)
    return parser.parse_args(argv)


def timed_against_matmul(fn, matmul, matmul_flops, repeats):
    """Seconds per call of ``fn`` (after two warm-up calls) and the same time in units of one ``matmul`` call
    (of ``matmul_flops``) timed right after each (load-robust), as the JSON fields of a row."""
    fn(), fn()
    times, ratios = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        t = time.perf_counter() - start
        start = time.perf_counter()
        matmul()
        ratios.append(t / (time.perf_counter() - start))
        times.append(t)
    return {"s_best": min(times), "s_median": float(np.median(times)),
            "matmul_equivalents_median": float(np.median(ratios)),
            "matmul_flops_per_s": matmul_flops / float(np.median(np.array(times) / np.array(ratios)))}


def main(argv=None):
    args = parse_args(argv)
    os.environ["KERAS_BACKEND"] = args.backend
    if args.backend == "jax":
        args.rows = args.rows or list(JAX_ROWS)
        return main_jax(args)
    args.rows = args.rows or list(ROWS)
    if {"dropout_bits", "ynn_ablation"} & set(args.rows):
        raise SystemExit("step_profile.py: the dropout_bits and ynn_ablation rows are JAX-only (--backend jax)")
    import keras
    import tensorflow as tf

    from edrnet_tf import EDRNet, EDRNetConfig, ave
    from edrnet_tf.model import losses

    rng = np.random.default_rng(0)
    b, n = args.batch, ave.N_SEGMENTS
    x = {"audio": tf.constant(rng.standard_normal((b, n, ave.AUDIO_DIM)).astype("float32")),
         "visual": tf.constant(rng.standard_normal((b, n, *ave.VISUAL_SHAPE)).astype("float32"))}
    labels = np.where(rng.random((b, n)) < 0.4, ave.BACKGROUND, rng.integers(0, 28, (b, n))).astype("int32")
    y_labels = tf.constant(labels)

    mm_a = tf.constant(rng.standard_normal((args.matmul_size,) * 2).astype("float32"))
    mm = tf.function(lambda a: tf.matmul(a, a), jit_compile=True)
    matmul_flops = 2 * args.matmul_size ** 3

    def measure(fn):
        return timed_against_matmul(fn, lambda: mm(mm_a).numpy(), matmul_flops, args.repeats)

    def build(config=None, objective="sel", jit=True):
        keras.backend.clear_session()
        config = config or EDRNetConfig()
        model = EDRNet(config)
        loss, weights = losses.objective(config, "sel")
        if objective == "ce":
            loss, weights = {"probs": loss["probs"]}, {"probs": weights["probs"]}
        model.compile(optimizer="adam", loss=loss, loss_weights=weights, jit_compile=jit)
        return model

    def step_row(model):
        y = {name: y_labels for name in model.output}
        return measure(lambda: model.train_on_batch(x, y))

    config = EDRNetConfig()
    sel_loss = losses.LandShoreSeaLoss(alpha=config.alpha, unit=config.lss_unit_features)
    ce = keras.losses.SparseCategoricalCrossentropy()

    def sel_objective(out):
        return config.lambda1 * ce(y_labels, out["probs"]) + config.lambda2 * sel_loss(y_labels, out["features"])

    results = []

    def emit(row, **fields):
        record = {"row": row, "batch": b, **fields}
        results.append(record)
        print(json.dumps(record), flush=True)

    for row in args.rows:
        if row == "step":
            model = build()
            emit(row, **step_row(model))
        elif row == "step_no_jit":
            emit(row, **step_row(build(jit=False)))
        elif row == "step_ce_only":
            model = build(objective="ce")
            emit(row, **measure(lambda: model.train_on_batch(x, {"probs": y_labels})))
        elif row == "step_no_normalization":
            emit(row, **step_row(build(EDRNetConfig(normalize_inputs=False))))
        elif row == "step_no_dropout":
            emit(row, **step_row(build(EDRNetConfig(dropout=0.0, input_dropout=0.0))))
        elif row in ("grads", "forward", "adam"):
            model = build()
            weights = model.trainable_variables

            @tf.function(jit_compile=True)
            def grads_fn():
                with tf.GradientTape() as tape:
                    loss = sel_objective(model(x, training=True))
                return tape.gradient(loss, weights)

            if row == "grads":
                emit(row, **measure(lambda: [g.numpy() for g in grads_fn()][:0]))
            elif row == "forward":
                fwd = tf.function(lambda: sel_objective(model(x, training=True)), jit_compile=True)
                emit(row, **measure(lambda: fwd().numpy()))
            else:
                gradients = grads_fn()
                optimizer = keras.optimizers.Adam()
                optimizer.build(weights)
                apply = tf.function(lambda: optimizer.apply(gradients, weights), jit_compile=True)
                emit(row, **measure(lambda: (apply(), weights[0].numpy())))
        elif row.startswith("visual"):
            model = build()
            norm, conv = model.normalizations["visual"], model.visual_conv
            kernel, bias = conv.kernel, conv.bias

            def encode(maps):
                folded = tf.reshape(norm(maps), (-1, 7, 7, 512))
                if row == "visual_grads_im2col":
                    padded = tf.pad(folded, [[0, 0], [1, 1], [1, 1], [0, 0]])
                    patches = tf.concat([padded[:, i:i + 7, j:j + 7, :] for i in range(3) for j in range(3)], -1)
                    out = tf.reshape(tf.reshape(patches, (-1, 9 * 512)) @ tf.reshape(kernel, (9 * 512, -1)),
                                     (-1, 7, 7, kernel.shape[-1])) + bias
                    out = tf.nn.relu(out)
                else:
                    out = conv(folded)
                return tf.reduce_sum(tf.reduce_mean(out, axis=(1, 2)))

            if row == "visual_forward":
                fwd = tf.function(lambda: encode(x["visual"]), jit_compile=True)
                emit(row, **measure(lambda: fwd().numpy()))
            else:
                @tf.function(jit_compile=True)
                def vgrads():
                    with tf.GradientTape() as tape:
                        loss = encode(x["visual"])
                    return tape.gradient(loss, [kernel, bias])

                emit(row, **measure(lambda: [g.numpy() for g in vgrads()][:0]))
        elif row == "temporal_grads":
            model = build()
            unfold = model.get_layer("unfold_segments")
            # the same graph from the pooled visual features on: rebuild by calling the model's own layers
            sub = keras.Model(inputs={"audio": model.input["audio"], "pooled": unfold.output},
                              outputs=model.output)
            pooled = tf.constant(rng.standard_normal((b, n, config.visual_width)).astype("float32"))
            weights = sub.trainable_variables

            @tf.function(jit_compile=True)
            def tgrads():
                with tf.GradientTape() as tape:
                    loss = sel_objective(sub({"audio": x["audio"], "pooled": pooled}, training=True))
                return tape.gradient(loss, weights)

            emit(row, trainable_variables=len(weights), **measure(lambda: [g.numpy() for g in tgrads()][:0]))
        elif row == "lss_grads":
            feats = tf.Variable(rng.standard_normal((b, n, config.width)).astype("float32"))

            @tf.function(jit_compile=True)
            def lgrads():
                with tf.GradientTape() as tape:
                    loss = sel_loss(y_labels, feats)
                return tape.gradient(loss, feats)

            emit(row, **measure(lambda: lgrads().numpy()))
    start = time.perf_counter()
    mm(mm_a).numpy()
    print(json.dumps({"summary": True, "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
                      "matmul_s": time.perf_counter() - start, "matmul_size": args.matmul_size,
                      "loadavg": os.getloadavg()}), flush=True)


def main_jax(args):
    """The rows of ``JAX_ROWS`` on the JAX backend (``jax.jit``), same output format as the TF rows."""
    import jax
    import jax.numpy as jnp
    import keras

    from edrnet_tf import EDRNet, EDRNetConfig, ave
    from edrnet_tf.model import losses

    unknown = [row for row in args.rows if row not in JAX_ROWS]
    if unknown:
        raise SystemExit(f"step_profile.py --backend jax: rows {unknown} are TF-only; JAX rows: {JAX_ROWS}")
    rng = np.random.default_rng(0)
    b, n = args.batch, ave.N_SEGMENTS
    x = {"audio": jnp.asarray(rng.standard_normal((b, n, ave.AUDIO_DIM)).astype("float32")),
         "visual": jnp.asarray(rng.standard_normal((b, n, *ave.VISUAL_SHAPE)).astype("float32"))}
    labels = np.where(rng.random((b, n)) < 0.4, ave.BACKGROUND, rng.integers(0, 28, (b, n))).astype("int32")
    y_labels = jnp.asarray(labels)
    mm_a = jnp.asarray(rng.standard_normal((args.matmul_size,) * 2).astype("float32"))
    mm = jax.jit(lambda a: a @ a)
    matmul_flops = 2 * args.matmul_size ** 3

    def measure(fn):
        return timed_against_matmul(fn, lambda: mm(mm_a).block_until_ready(), matmul_flops, args.repeats)

    def build(config=None):
        keras.backend.clear_session()
        config = config or EDRNetConfig()
        model = EDRNet(config)
        loss, weights = losses.objective(config, "sel")
        model.compile(optimizer="adam", loss=loss, loss_weights=weights, jit_compile=True)
        return model, loss, weights

    def emit(row, **fields):
        print(json.dumps({"row": row, "batch": b, "backend": "jax", "xla_flags": os.environ.get("XLA_FLAGS", ""),
                          **fields}), flush=True)

    for row in args.rows:
        if row in ("step", "step_no_dropout"):
            config = EDRNetConfig(dropout=0.0, input_dropout=0.0) if row == "step_no_dropout" else None
            model, _, _ = build(config)
            y = {name: y_labels for name in model.output}
            emit(row, **measure(lambda: model.train_on_batch(x, y)))
        elif row in ("grads", "forward"):
            model, loss, weights = build()
            trainable = [v.value for v in model.trainable_variables]
            non_trainable = [v.value for v in model.non_trainable_variables]

            def objective(trainable, inputs, y):
                out, _ = model.stateless_call(trainable, non_trainable, inputs, training=True)
                return sum(weights[k] * loss[k](y, out[k]) for k in loss)

            fn = jax.jit(objective if row == "forward" else jax.grad(objective))
            emit(row, **measure(lambda: jax.block_until_ready(fn(trainable, x, y_labels))))
        elif row.startswith("visual"):
            model, _, _ = build()
            norm, conv = model.normalizations["visual"], model.visual_conv

            def encode(kernel, bias, maps):
                folded = jnp.reshape(norm(maps), (-1, 7, 7, 512))
                if row == "visual_grads_im2col":
                    padded = jnp.pad(folded, ((0, 0), (1, 1), (1, 1), (0, 0)))
                    patches = jnp.concatenate([padded[:, i:i + 7, j:j + 7, :] for i in range(3) for j in range(3)],
                                              -1)
                    out = jax.nn.relu(jnp.reshape(jnp.reshape(patches, (-1, 9 * 512)) @ jnp.reshape(
                        kernel, (9 * 512, -1)), (-1, 7, 7, kernel.shape[-1])) + bias)
                else:
                    out, _ = conv.stateless_call([kernel, bias], [], folded)
                return jnp.sum(jnp.mean(out, axis=(1, 2)))

            fn = jax.jit(encode if row == "visual_forward" else jax.grad(encode, argnums=(0, 1)))
            kernel, bias = conv.kernel.value, conv.bias.value
            emit(row, **measure(lambda: jax.block_until_ready(fn(kernel, bias, x["visual"]))))
        elif row == "dropout_bits":
            fn = jax.jit(lambda key: [jax.random.bernoulli(jax.random.fold_in(key, i), 0.6, (b, n, 768))
                                      for i in range(24)])
            key = jax.random.PRNGKey(0)
            emit(row, prng=jax.config.jax_default_prng_impl, **measure(lambda: jax.block_until_ready(fn(key))))
        elif row == "ynn_ablation":
            model, loss, weights = build()
            optimizer = keras.optimizers.Adam()
            optimizer.build(model.trainable_variables)
            trainable = [v.value for v in model.trainable_variables]
            non_trainable = [v.value for v in model.non_trainable_variables]
            opt_vars = [v.value for v in optimizer.variables]

            def sel_step(trainable, opt_vars, inputs, y):
                def objective(trainable):
                    out, _ = model.stateless_call(trainable, non_trainable, inputs, training=False)
                    return sum(weights[k] * loss[k](y, out[k]) for k in loss)

                value, grads = jax.value_and_grad(objective)(trainable)
                return (value, *optimizer.stateless_apply(opt_vars, grads, trainable))

            lowered = jax.jit(sel_step).lower(trainable, opt_vars, x, y_labels)
            variants = {"ynn_default": lowered.compile(), "ynn_dots_only": lowered.compile(
                {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"})}
            calls = {name: (lambda c=compiled: jax.block_until_ready(c(trainable, opt_vars, x, y_labels)))
                     for name, compiled in variants.items()}
            for call in calls.values():
                call(), call()
            times = {name: [] for name in calls}
            for _ in range(args.repeats):  # alternate the two programs and the matmul
                for name, call in [*calls.items(), ("matmul", lambda: mm(mm_a).block_until_ready())]:
                    start = time.perf_counter()
                    call()
                    times.setdefault(name, []).append(time.perf_counter() - start)
            for name, compiled in variants.items():
                emit(f"step_{name}", ynn_fusions=compiled.as_text().count('"kind":"__ynn_fusion"'),
                     s_best=min(times[name]), s_median=float(np.median(times[name])),
                     matmul_equivalents_median=float(np.median(np.array(times[name]) / np.array(times["matmul"]))))
            emit("ynn_ablation_ratio", default_over_dots_only_per_pair=[
                a / c for a, c in zip(times["ynn_default"], times["ynn_dots_only"])])
    start = time.perf_counter()
    mm(mm_a).block_until_ready()
    print(json.dumps({"summary": True, "backend": "jax", "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
                      "matmul_s": time.perf_counter() - start, "matmul_size": args.matmul_size,
                      "loadavg": os.getloadavg()}), flush=True)


if __name__ == "__main__":
    main()
