"""SavedModel export: named audio/visual inputs, any batch and N >= L*(k-1)+1, outputs equal to Keras'."""

import subprocess

import keras
import numpy as np
import pytest
import tensorflow as tf

from edrnet_tf import EDRNet, EDRNetConfig
from edrnet_tf.serving import export

TINY = EDRNetConfig(width=16, visual_width=8)


def b2ilc_reference(labels, background=28, witness_rate=0.5):
    """Plain-Python B2ILC (docs/design.md#b2ilc): each maximal foreground run takes its label holding
    strictly more than ``witness_rate`` of the run's segments, if there is one."""
    out = np.array(labels).copy()
    for video in out:
        t = 0
        while t < len(video):
            if video[t] == background:
                t += 1
                continue
            end = t
            while end < len(video) and video[end] != background:
                end += 1
            values, counts = np.unique(video[t:end], return_counts=True)
            if counts.max() > witness_rate * (end - t):
                video[t:end] = values[np.argmax(counts)]
            t = end
    return out


def features(batch, n, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(batch, n, 128)).astype(np.float32),
            rng.uniform(size=(batch, n, 7, 7, 512)).astype(np.float32))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = EDRNet(TINY)
    path = export.export_saved_model(model, tmp_path_factory.mktemp("export") / "saved_model")
    return model, path


@pytest.mark.parametrize("batch,n", [(1, 10), (3, 25), (2, TINY.min_segments)])
def test_serving_default_equals_keras_for_any_batch_and_length(exported, batch, n):
    model, path = exported
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    audio, visual = features(batch, n)
    served = serve(audio=tf.constant(audio), visual=tf.constant(visual))
    expected = model.predict({"audio": audio, "visual": visual}, verbose=0)["probs"]
    assert sorted(served) == ["labels", "labels_raw", "probs"]
    np.testing.assert_allclose(served["probs"].numpy(), expected, rtol=1e-4, atol=1e-6)
    raw = np.argmax(expected, axis=-1)
    np.testing.assert_array_equal(served["labels_raw"].numpy(), raw)
    np.testing.assert_array_equal(served["labels"].numpy(), b2ilc_reference(raw))


def test_b2ilc_reference_takes_the_strict_majority_of_each_bag():
    labels = np.array([[3, 3, 5, 3, 28, 28, 7, 7, 9, 28], [1, 2, 28, 4, 4, 28, 28, 6, 6, 6]])
    np.testing.assert_array_equal(b2ilc_reference(labels), [[3, 3, 3, 3, 28, 28, 7, 7, 7, 28],
                                                            [1, 2, 28, 4, 4, 28, 28, 6, 6, 6]])


def test_saved_model_cli_shows_named_inputs_and_outputs(exported):
    _, path = exported
    shown = subprocess.run(["saved_model_cli", "show",
                            "--dir", str(path), "--all"], capture_output=True, text=True, check=True).stdout
    signature = shown.split("signature_def['serving_default']")[1].split("signature_def[")[0]
    assert "inputs['audio']" in signature and "shape: (-1, -1, 128)" in signature
    assert "inputs['visual']" in signature and "shape: (-1, -1, 7, 7, 512)" in signature
    for output in ("probs", "labels", "labels_raw"):
        assert f"outputs['{output}']" in signature


def test_serving_with_too_few_segments_says_the_minimum(exported):
    serve = tf.saved_model.load(str(exported[1])).signatures["serving_default"]
    audio, visual = features(2, TINY.min_segments - 1)
    with pytest.raises(tf.errors.InvalidArgumentError, match=rf"expected N >= {TINY.min_segments} segments "
                                                             r"\(L\*\(k-1\)\+1 for this model\), found N =\] \[8\]"):
        serve(audio=tf.constant(audio), visual=tf.constant(visual))


# Argmax labels whose bags B2ILC changes: [3, 3, 5, 3] takes 3 and [7, 7, 9] takes 7.
FIXED_RAW = [3, 3, 5, 3, 28, 28, 7, 7, 9, 28]


class FixedProbs(keras.Model):
    """A stand-in model: whatever the features, every video of N = 10 segments gets the probabilities of
    ``FIXED_RAW`` (0.9 on the label, 0.1 spread over the other classes)."""

    config = TINY

    def call(self, inputs, training=False):
        probs = keras.ops.one_hot(FIXED_RAW, TINY.num_classes) * (0.9 - 0.1 / 28) + 0.1 / 28
        return {"probs": keras.ops.broadcast_to(probs[None], (keras.ops.shape(inputs["audio"])[0], 10,
                                                              TINY.num_classes))}


def test_served_labels_are_b2ilc_of_the_argmax_where_b2ilc_changes_them(tmp_path):
    assert (b2ilc_reference([FIXED_RAW]) != [FIXED_RAW]).any()  # the fixed labels do change under B2ILC
    model, (audio, visual) = FixedProbs(), features(2, 10)
    model({"audio": audio, "visual": visual})  # built, as export requires
    serve = tf.saved_model.load(str(export.export_saved_model(model, tmp_path / "sm"))).signatures["serving_default"]
    served = serve(audio=tf.constant(audio), visual=tf.constant(visual))
    np.testing.assert_array_equal(served["labels_raw"].numpy(), [FIXED_RAW] * 2)
    np.testing.assert_array_equal(served["labels"].numpy(), b2ilc_reference([FIXED_RAW] * 2))
