"""Input normalisation: training-split statistics, stored in the model, kept through .keras and SavedModel,
and what it is for: a visual-only model learns from the visual maps."""

import dataclasses
import json

import keras
import numpy as np
import pytest

from edrnet_tf import EDRNet, EDRNetConfig
from edrnet_tf.config import TrainSettings
from edrnet_tf.data import builds, pipeline, statistics, synthetic, synthetic_signal, tfds_source
from edrnet_tf.training import runner, task

TINY = EDRNetConfig(width=16, visual_width=8)


def numpy_statistics(audio, visual):
    """Per-channel mean and population variance: audio over (videos, segments), visual also over 7x7."""
    a = np.asarray(audio, np.float64).reshape(-1, audio.shape[-1])
    v = np.asarray(visual, np.float64).reshape(-1, visual.shape[-1])
    return a.mean(0), a.var(0), v.mean(0), v.var(0)


def test_split_statistics_equal_numpy_over_the_whole_training_split(built_ave):
    found = tfds_source.split_statistics(built_ave, "train")
    arrays = pipeline.split_arrays(built_ave, "train")
    expected = numpy_statistics(arrays["audio"], arrays["visual"])
    for value, reference in zip((found.audio_mean, found.audio_variance, found.visual_mean, found.visual_variance),
                                expected):
        np.testing.assert_allclose(value, reference, rtol=1e-5, atol=1e-7)
    assert found.videos == len(arrays["row"])


def test_streamed_statistics_do_not_depend_on_the_batching():
    rng = np.random.default_rng(0)
    audio = rng.normal(3.0, 0.01, (13, 10, 128)).astype(np.float32)  # a large mean, tiny spread
    visual = rng.gamma(0.5, 0.05, (13, 10, 7, 7, 512)).astype(np.float32)
    cuts = [0, 1, 6, 13]
    found = statistics.stream_statistics({"audio": audio[a:b], "visual": visual[a:b]} for a, b in zip(cuts, cuts[1:]))
    for value, reference in zip((found.audio_mean, found.audio_variance, found.visual_mean, found.visual_variance),
                                numpy_statistics(audio, visual)):
        np.testing.assert_allclose(value, reference, rtol=1e-4, atol=1e-9)


def test_statistics_of_an_empty_split_raise_one_line():
    with pytest.raises(ValueError, match="no videos"):
        statistics.stream_statistics([])


def test_model_standardises_raw_inputs_with_the_statistics_it_holds():
    model = EDRNet(TINY)
    rng = np.random.default_rng(1)
    audio = rng.normal(5.0, 0.02, (4, 10, 128)).astype(np.float32)
    visual = rng.gamma(0.5, 0.05, (4, 10, 7, 7, 512)).astype(np.float32)
    stats = statistics.stream_statistics([{"audio": audio, "visual": visual}])
    model.set_input_statistics(stats)
    standardized = keras.ops.convert_to_numpy(model.normalizations["audio"](audio))
    np.testing.assert_allclose(standardized.reshape(-1, 128).mean(0), 0.0, atol=1e-3)
    np.testing.assert_allclose(standardized.reshape(-1, 128).std(0), 1.0, rtol=1e-3)


def test_a_model_without_normalisation_refuses_statistics():
    model = EDRNet(TINY.replace(normalize_inputs=False))
    assert not [layer for layer in model.layers if isinstance(layer, keras.layers.Normalization)]
    with pytest.raises(ValueError, match="normalize_inputs=False"):
        model.set_input_statistics(None)


@pytest.fixture(scope="module")
def normalized_model(built_ave):
    keras.utils.set_random_seed(0)
    return task.build_model(TINY, tfds_source.split_statistics(built_ave, "train"))


def test_keras_file_keeps_the_statistics_and_the_outputs_on_raw_features(normalized_model, built_ave, tmp_path):
    test = pipeline.split_arrays(built_ave, "test")
    inputs = {"audio": test["audio"][:4], "visual": test["visual"][:4]}
    normalized_model.save(tmp_path / "model.keras")
    restored = keras.saving.load_model(tmp_path / "model.keras")
    for name, layer in normalized_model.normalizations.items():
        for saved, loaded in zip(layer.get_weights(), restored.normalizations[name].get_weights()):
            np.testing.assert_array_equal(saved, loaded)
    expected = normalized_model.predict(inputs, verbose=0)
    found = restored.predict(inputs, verbose=0)
    for key in expected:
        np.testing.assert_allclose(found[key], expected[key], rtol=1e-5, atol=1e-6)
    # The statistics matter: the same trained weights with identity statistics give other outputs.
    identity = statistics.InputStatistics(np.zeros(128, np.float32), np.ones(128, np.float32),
                                          np.zeros(512, np.float32), np.ones(512, np.float32), videos=0)
    restored.set_input_statistics(identity)
    assert not np.allclose(restored.predict(inputs, verbose=0)["probs"], expected["probs"], atol=1e-4)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="SavedModel export runs on the TF backend")
def test_saved_model_takes_raw_features_and_matches_the_keras_model(normalized_model, built_ave, tmp_path):
    import tensorflow as tf

    from edrnet_tf.serving import export

    test = pipeline.split_arrays(built_ave, "test")
    audio, visual = test["audio"][:3], test["visual"][:3]
    serve = tf.saved_model.load(str(export.export_saved_model(normalized_model, tmp_path / "sm")))
    served = serve.signatures["serving_default"](audio=tf.constant(audio), visual=tf.constant(visual))
    expected = normalized_model.predict({"audio": audio, "visual": visual}, verbose=0)["probs"]
    np.testing.assert_allclose(served["probs"].numpy(), expected, rtol=1e-4, atol=1e-6)


# --- what normalisation is for: the visual branch learns ---

VISUAL_ONLY = dataclasses.replace(synthetic_signal.V1_PARAMS,
                                  audio_signal=0.0, visual_signal=8.0, background_states=(0.0, 0.0, 1.0))


@pytest.fixture(scope="module")
def visual_only_data(tmp_path_factory):
    """300 synthetic videos whose class is planted in the visual maps only (a visual-GAP linear probe: 0.58,
    majority 0.18; without normalisation the same V-only model stays at the majority rate)."""
    root = tmp_path_factory.mktemp("visual_only")
    synthetic.write_synthetic_ave(root / "manual", videos=300, seed=3, params=VISUAL_ONLY)
    builds.build_dataset(root / "manual", root / "tfds")
    return root / "tfds"


def v_only_run(data_dir, output, normalize):
    config = EDRNetConfig(width=32, visual_width=32, num_layers=2, branches=("V",), lambda2=0.0,
                          normalize_inputs=normalize)
    settings = TrainSettings(dataset="ave", data_dir=data_dir, output=output, batch_size=16, epochs=10,
                                    smb_per_class=0, learning_rate=1e-3, jit_compile=False, early_stopping=0, seed=0)
    return runner.train(config, settings, verbose=0)


@pytest.mark.large
def test_visual_only_model_learns_from_the_visual_maps(visual_only_data, tmp_path):
    figures = v_only_run(visual_only_data, tmp_path / "run", normalize=True)
    majority = figures["majority_baseline"]["original"]
    visual = figures["test"]["original"]["visual"]["raw"]
    assert visual > majority + 0.25, json.dumps(figures["test"])
