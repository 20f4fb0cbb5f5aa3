"""TensorFlow SavedModel export of a trained EDRNet, for TF Serving and ``tf.saved_model.load``.

``serving_default`` (alias of the ``serve`` endpoint) takes named ``audio`` [B, N, 128] and ``visual``
[B, N, 7, 7, 512] float32 for any batch B and any N >= L*(k-1)+1, and returns ``probs`` [B, N, C] (the
gated head), ``labels_raw`` [B, N] (argmax) and ``labels`` [B, N] (after B2ILC, paper Fig. 6), int32.
A shorter N fails with an ``InvalidArgumentError`` saying the minimum.
"""

import os
import pathlib
import shutil

import keras
import tensorflow as tf

from edrnet_tf import ave, files
from edrnet_tf.model.b2ilc import b2ilc

ENDPOINT = "serve"


def serving_fn(model):
    """The serving computation: the model's gated probabilities and their argmax before/after B2ILC.

    On TensorFlow, inputs of fewer than L*(k-1)+1 segments (or audio and visual of different N) fail
    with an ``InvalidArgumentError`` that says the minimum N, before the temporal convolutions run; under
    JAX, jax2tf's shape constraint (``m + L*(k-1)`` with m >= 1, see ``export_saved_model``) refuses them.
    """
    config = model.config

    def serve(audio, visual):
        if keras.backend.backend() == "tensorflow":
            audio, visual = check_segments(audio, visual, config.min_segments)
        probs = model({"audio": audio, "visual": visual}, training=False)["probs"]
        labels_raw = keras.ops.cast(keras.ops.argmax(probs, axis=-1), "int32")
        labels = b2ilc(labels_raw, background=config.background, witness_rate=config.witness_rate)
        return {"probs": probs, "labels": labels, "labels_raw": labels_raw}

    return serve


def check_segments(audio, visual, min_segments):
    """``audio``, ``visual`` (TF tensors), run only after asserting both hold the same N >= ``min_segments``."""
    n, n_visual = tf.shape(audio)[1], tf.shape(visual)[1]
    checks = [
        tf.debugging.Assert(n >= min_segments, [f"serving: expected N >= {min_segments} segments (L*(k-1)+1 for "
                                                 "this model), found N =", n]),
        tf.debugging.Assert(n == n_visual, ["serving: expected audio and visual of the same N, found", n, n_visual]),
    ]
    with tf.control_dependencies(checks):
        return tf.identity(audio), tf.identity(visual)


def export_saved_model(model, path):
    """Writes ``model`` as a SavedModel at ``path`` (see the module docstring for its signature)."""
    archive = keras.export.ExportArchive()
    archive.track(model)
    options = {}
    if keras.backend.backend() == "jax":
        # One symbolic batch and length for both inputs; the length written as m + L*(k-1) with m >= 1,
        # so jax2tf can prove every valid Conv1D keeps a positive length.
        length = f"m + {model.config.min_segments - 1}"
        options["jax2tf_kwargs"] = {"polymorphic_shapes": [
            f"(b, {length}, {ave.AUDIO_DIM})", f"(b, {length}, {', '.join(map(str, ave.VISUAL_SHAPE))})"]}
    archive.add_endpoint(ENDPOINT, serving_fn(model), input_signature=[
        tf.TensorSpec([None, None, ave.AUDIO_DIM], tf.float32, name="audio"),
        tf.TensorSpec([None, None, *ave.VISUAL_SHAPE], tf.float32, name="visual"),
    ], **options)
    archive.write_out(str(path), verbose=False)
    return pathlib.Path(path)


def write_saved_model(model, path, overwrite=False):
    """``export_saved_model`` into a hidden folder beside ``path``, renamed to ``path`` when whole: an earlier
    export at ``path`` is replaced only by a complete one, and a failed export leaves nothing half-written there.

    What is at ``path`` already is replaced only when it is an earlier SavedModel or empty (or with
    ``overwrite``, a folder of any content): ``files.check_output``'s rule, checked again here."""
    path = pathlib.Path(path)
    files.check_output(path, "--output", files.SAVED_MODEL, overwrite)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    shutil.rmtree(partial, ignore_errors=True)  # this process's own leftover, if any
    try:
        export_saved_model(model, partial)
        if path.exists() or path.is_symlink():
            earlier = path.with_name(f".{path.name}.{os.getpid()}.earlier")
            path.rename(earlier)
            partial.rename(path)
            if earlier.is_symlink():
                earlier.unlink()
            else:
                shutil.rmtree(earlier)
        else:
            partial.rename(path)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return path
