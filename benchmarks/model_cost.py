"""Parameter count and FLOPs per video of an EDRNet config, measured by XLA's cost analysis.

Traces the forward pass (and the SEL training step: forward, backward and an Adam update) with
``jax.jit`` on the JAX backend and reads the compiled program's ``cost_analysis()["flops"]``
(a multiply-add counts 2). Prints one JSON object.

    python benchmarks/model_cost.py                 # the paper's default, k=3, L=4, d=768
    python benchmarks/model_cost.py --width 256 --batch 64
"""

import argparse
import json
import os

os.environ["KERAS_BACKEND"] = "jax"  # cost analysis of the XLA program jax.jit compiles

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from edrnet_tf import EDRNet, EDRNetConfig, ave
from edrnet_tf.model import losses  # noqa: E402


def compiled_flops(fn, *args):
    cost = jax.jit(fn).lower(*args).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    return float(cost["flops"])


def measure(config, batch=1, n_segments=ave.N_SEGMENTS):
    """{"params", "forward_flops_per_video", "train_step_flops_per_video"} of ``config``."""
    model = EDRNet(config)
    inputs = {"audio": np.zeros((batch, n_segments, ave.AUDIO_DIM), "float32"),
              "visual": np.zeros((batch, n_segments, *ave.VISUAL_SHAPE), "float32")}
    labels = np.full((batch, n_segments), ave.BACKGROUND, "int32")
    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]

    def forward(trainable, inputs):
        out, _ = model.stateless_call(trainable, non_trainable, inputs, training=False)
        return out["probs"], out["features"]

    loss_fns, weights = losses.objective(config, "sel")
    optimizer = keras.optimizers.Adam()
    optimizer.build(model.trainable_variables)
    opt_vars = [v.value for v in optimizer.variables]

    def train_step(trainable, opt_vars, inputs, labels):
        def loss_fn(trainable):
            out, _ = model.stateless_call(trainable, non_trainable, inputs, training=True)
            return sum(weights[k] * loss_fns[k](labels, out[k]) for k in loss_fns)

        loss, grads = jax.value_and_grad(loss_fn)(trainable)
        trainable, opt_vars = optimizer.stateless_apply(opt_vars, grads, trainable)
        return loss, trainable, opt_vars

    return {
        "params": int(model.count_params()),
        "forward_flops_per_video": compiled_flops(forward, trainable, inputs) / batch,
        "train_step_flops_per_video": compiled_flops(train_step, trainable, opt_vars, inputs, labels) / batch,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernel-size", type=int, default=EDRNetConfig.kernel_size)
    parser.add_argument("--num-layers", type=int, default=EDRNetConfig.num_layers)
    parser.add_argument("--width", type=int, default=EDRNetConfig.width)
    parser.add_argument("--visual-width", type=int, default=EDRNetConfig.visual_width)
    parser.add_argument("--batch", type=int, default=1, help="videos in the traced batch (FLOPs are per video)")
    args = parser.parse_args(argv)
    config = EDRNetConfig(kernel_size=args.kernel_size, num_layers=args.num_layers, width=args.width,
                          visual_width=args.visual_width)
    result = {"config": {k: config.to_dict()[k] for k in ("kernel_size", "num_layers", "width", "visual_width")},
              "batch": args.batch, "method": "XLA cost_analysis of jax.jit-compiled programs",
              **measure(config, batch=args.batch)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
