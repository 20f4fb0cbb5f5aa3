"""Baselines beside every result: majority class, per-segment linear probes and a small temporal conv.

Every baseline reads the pooled per-segment features of a built ``tfds_ave``: the 128-d audio and the
512-d visual map averaged over its 7x7 positions (GAP), [M, 10, 640] per split, streamed 64 videos at a
time so a split is never held whole. Each is fitted on the training split, its settings are chosen on
the validation split, and it is scored on the test split with the original (O-AVE) labels and, where
``tfds_ave/corrected`` is built or buildable, the corrected (C-AVE) ones.

- ``majority``: the most frequent training segment label, predicted for every segment.
- ``probe-audio``, ``probe-visual``, ``probe-audio+visual``: multinomial logistic regression on one
  segment's standardised features (training mean and std); inverse L2 strength ``C`` chosen from
  ``PROBE_C`` on validation.
- ``temporal-conv``: two 'same' Conv1D layers (kernel 3, ReLU; dropout ``CONV_DROPOUT`` before each)
  over the 10 standardised segments and a per-segment softmax head; width chosen from ``CONV_WIDTHS``
  and epochs by early stopping on validation accuracy; seeded.

CLI: ``python -m edrnet_tf.baselines [--data-dir DIR | --dataset synthetic ...] [--output FILE.json]``.
"""

import json
import pathlib
import warnings

import numpy as np
import tensorflow as tf

from edrnet_tf import ave, files
from edrnet_tf.data import pipeline

FEATURES = {"audio": slice(0, ave.AUDIO_DIM), "visual": slice(ave.AUDIO_DIM, None), "audio+visual": slice(None)}
PROBE_C = (0.001, 0.01, 0.1)
PROBE_ITERATIONS = 300
CONV_WIDTHS = (64, 128)
CONV_MAX_EPOCHS = 60
CONV_PATIENCE = 6
CONV_DROPOUT = 0.5
CONV_BATCH = 32


def pooled_split(data_dir, split, config="supervised"):
    """(features [M, 10, 640] float32: audio then GAP'd visual, segment labels [M, 10], rows [M])."""
    def pool(batch):
        visual = tf.reduce_mean(batch["visual"], axis=(2, 3))
        return tf.concat([batch["audio"], visual], -1), batch["segment_labels"], batch["row"]

    parts = list(pipeline.load_split(data_dir, split, config).batch(64).map(pool).as_numpy_iterator())
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))


def accuracy(predicted, labels):
    return float(np.mean(np.asarray(predicted) == np.asarray(labels)))


def standardise(train, *others):
    """``train`` and ``others`` scaled by the training mean and std of each feature (over all segments)."""
    flat = train.reshape(-1, train.shape[-1])
    mean, std = flat.mean(0), flat.std(0)
    std = np.where(std > 0, std, 1.0)
    return [((x - mean) / std).astype(np.float32) for x in (train, *others)]


def majority(data):
    """The most frequent training segment label, predicted everywhere."""
    label = int(np.bincount(data["train"][1].ravel(), minlength=ave.NUM_CLASSES).argmax())
    return (lambda x: np.full(x.shape[:2], label)), {"label": label}


def _fit_probe(x, y, c):
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    # One BLAS thread: on a busy small machine the threaded L-BFGS steps are 50x slower (measured), and on a
    # big one these fits are a few seconds anyway. An unconverged fit is still a candidate: validation judges.
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
        warnings.simplefilter("ignore")
        return LogisticRegression(C=c, max_iter=PROBE_ITERATIONS).fit(x.reshape(-1, x.shape[-1]), y.ravel())


def probe(data, columns):
    """Per-segment logistic regression on ``columns`` of the standardised features, C chosen on validation."""
    (x_train, y_train), (x_val, y_val) = data["train"], data["validation"]
    x_train, x_val = x_train[..., columns], x_val[..., columns]
    best = None
    for c in PROBE_C:
        model = _fit_probe(x_train, y_train, c)
        score = accuracy(model.predict(x_val.reshape(-1, x_val.shape[-1])), y_val.ravel())
        if best is None or score > best[0]:
            best = (score, c, model)
    model = best[2]
    return (lambda x: model.predict(x[..., columns].reshape(x.shape[0] * x.shape[1], -1)).reshape(x.shape[:2]),
            {"C": best[1]})


def _conv_model(width, channels, seed):
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((ave.N_SEGMENTS, channels))
    h = keras.layers.Dropout(CONV_DROPOUT)(inputs)
    h = keras.layers.Conv1D(width, 3, padding="same", activation="relu")(h)
    h = keras.layers.Dropout(CONV_DROPOUT)(h)
    h = keras.layers.Conv1D(width, 3, padding="same", activation="relu")(h)
    model = keras.Model(inputs, keras.layers.Dense(ave.NUM_CLASSES, activation="softmax")(h))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def temporal_conv(data, seed=0):
    """Two Conv1D layers over the 10 segments; width and (early-stopped) epochs chosen on validation."""
    import keras

    (x_train, y_train), (x_val, y_val) = data["train"], data["validation"]
    best = None
    for width in CONV_WIDTHS:
        model = _conv_model(width, x_train.shape[-1], seed)
        stop = keras.callbacks.EarlyStopping("val_accuracy", patience=CONV_PATIENCE, mode="max",
                                             restore_best_weights=True)
        history = model.fit(x_train, y_train, batch_size=CONV_BATCH, epochs=CONV_MAX_EPOCHS, verbose=0,
                            validation_data=(x_val, y_val), callbacks=[stop], shuffle=True)
        score = accuracy(model.predict(x_val, verbose=0).argmax(-1), y_val)
        if best is None or score > best[0]:
            epochs = int(np.argmax(history.history["val_accuracy"])) + 1
            best = (score, {"width": width, "epochs": epochs}, model)
    model = best[2]
    return (lambda x: model.predict(x, verbose=0).argmax(-1)), best[1]


FITS = {"majority": lambda data, seed: majority(data),
        **{f"probe-{name}": (lambda data, seed, c=columns: probe(data, c)) for name, columns in FEATURES.items()},
        "temporal-conv": temporal_conv}


def evaluate_baselines(data, seed=0):
    """``{name: {"validation", "test": {labels: accuracy or None}, "selected"}}`` for every baseline.

    ``data``: ``{"train": (x, y), "validation": (x, y), "test": (x, {"original": y, "corrected": y or
    None})}``, x the raw pooled features [M, 10, 640] and y the segment labels [M, 10].
    """
    x_train, x_val, x_test = standardise(data["train"][0], data["validation"][0], data["test"][0])
    scaled = {"train": (x_train, data["train"][1]), "validation": (x_val, data["validation"][1])}
    results = {}
    for name, fit in FITS.items():
        predict, selected = fit(scaled, seed)
        predicted = predict(x_test)
        results[name] = {"validation": accuracy(predict(x_val), scaled["validation"][1]),
                         "test": {labels: None if y is None else accuracy(predicted, y)
                                  for labels, y in data["test"][1].items()},
                         "selected": selected}
    return results


def compute_baselines(source, seed=0):
    """The baselines of a ``tfds_source.TfdsSource`` (built ``tfds_ave``) as a JSON-ready dict."""
    train, validation = (pooled_split(source.data_dir, split)[:2] for split in ("train", "validation"))
    x_test, y_test, rows = pooled_split(source.data_dir, "test")
    labels = {"original": y_test, "corrected": None}
    if source.has_corrected():
        source.ensure("corrected")
        _, y_corrected, corrected_rows = pooled_split(source.data_dir, "test", "corrected")
        at = {row: i for i, row in enumerate(corrected_rows)}
        labels["corrected"] = y_corrected[[at[row] for row in rows]]
    data = {"train": train, "validation": validation, "test": (x_test, labels)}
    return {"dataset": source.description or source.name, "synthetic": bool(source.synthetic), "seed": seed,
            "videos": {"train": len(train[0]), "validation": len(validation[0]), "test": len(x_test)},
            "baselines": evaluate_baselines(data, seed)}


def format_baselines(result):
    """A markdown table of ``compute_baselines``' result (percent), with a caption naming the data."""
    def cell(value):
        return "-" if value is None else f"{100 * value:.2f}"

    lines = ["| Baseline | Validation (%) | Test original (%) | Test corrected (%) | Selected on validation |",
             "|---|---:|---:|---:|---|"]
    for name, b in result["baselines"].items():
        chosen = ", ".join(f"{k}={v:g}" for k, v in b["selected"].items())
        lines.append(f"| {name} | {cell(b['validation'])} | {cell(b['test']['original'])} | "
                     f"{cell(b['test'].get('corrected'))} | {chosen} |")
    videos = result["videos"]
    data = ("SYNTHETIC data: " if result["synthetic"] else "") + result["dataset"]
    caption = (f"Baselines on pooled per-segment features (audio + GAP'd visual); {data}; {videos['train']}/"
               f"{videos['validation']}/{videos['test']} train/validation/test videos; temporal-conv seed "
               f"{result['seed']}.")
    return "\n".join(["Baselines:", "", *lines, "", caption]) + "\n"


def write_json(result, path):
    """Writes the result to ``path`` whole or not at all (``files.write_json``), creating its folder."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    files.write_json(path, result)


def cached_baselines(source, path, seed=0):
    """``compute_baselines`` once per data source and seed: reuses ``path`` when it holds them."""
    path = pathlib.Path(path)
    try:
        cached = json.loads(path.read_text())
        if cached.get("dataset") == (source.description or source.name) and cached.get("seed") == seed:
            return cached
    except (OSError, ValueError):
        pass
    result = compute_baselines(source, seed)
    write_json(result, path)
    return result
