import numpy as np
import pytest
from test_b2ilc import b2ilc_reference

from edrnet_tf.model import losses, metrics

from helpers import assert_serialization_round_trip, random_labels, to_numpy

BG = 28
pytestmark = pytest.mark.core


def one_hot_probs(labels, num_classes=29, seed=0):
    """Random probabilities whose argmax is ``labels``."""
    rng = np.random.default_rng(seed)
    probs = rng.random((*labels.shape, num_classes)) * 0.5
    np.put_along_axis(probs, labels[..., None], 1.0, axis=-1)
    return (probs / probs.sum(-1, keepdims=True)).astype("float32")


def uneven_batches(seed=0):
    """(true, predicted) label pairs in batches of 7, 1, 13 and 3 videos (10 segments each)."""
    rng = np.random.default_rng(seed)
    out = []
    for i, size in enumerate((7, 1, 13, 3)):
        y = random_labels(batch=size, seed=seed * 10 + i, p_background=0.4, num_events=4)
        noise = rng.random(y.shape) < 0.3
        y_hat = np.where(noise, rng.integers(0, 4, y.shape), y)
        y_hat = np.where(rng.random(y.shape) < 0.1, BG, y_hat).astype("int32")
        out.append((y, y_hat))
    return out


@pytest.mark.parametrize("apply_b2ilc", [False, True])
def test_segment_accuracy_is_global_over_uneven_batches(apply_b2ilc):
    metric = metrics.SegmentAccuracy(b2ilc=apply_b2ilc)
    batches = uneven_batches()
    for i, (y, y_hat) in enumerate(batches):
        metric.update_state(y, one_hot_probs(y_hat, seed=i))
    y_all = np.concatenate([y for y, _ in batches])
    y_hat_all = np.concatenate([y_hat for _, y_hat in batches])
    if apply_b2ilc:
        y_hat_all = b2ilc_reference(y_hat_all)
    expected = (y_all == y_hat_all).sum() / y_all.size
    batch_means = np.mean([(y == (b2ilc_reference(p) if apply_b2ilc else p)).mean() for y, p in batches])
    assert float(to_numpy(metric.result())) == pytest.approx(expected, abs=1e-6)
    assert expected != pytest.approx(batch_means, abs=1e-4)  # the batches really are uneven
    metric.reset_state()
    assert float(to_numpy(metric.result())) == 0.0


def test_confusion_matrix_and_per_class_accuracy_match_numpy():
    confusion = metrics.ConfusionMatrix()
    per_class = metrics.PerClassAccuracy()
    batches = uneven_batches(seed=1)
    for i, (y, y_hat) in enumerate(batches):
        probs = one_hot_probs(y_hat, seed=i)
        confusion.update_state(y, probs)
        per_class.update_state(y, probs)
    y_all = np.concatenate([y for y, _ in batches]).ravel()
    y_hat_all = np.concatenate([p for _, p in batches]).ravel()
    expected = np.zeros((29, 29))
    np.add.at(expected, (y_all, y_hat_all), 1)
    np.testing.assert_array_equal(to_numpy(confusion.result()), expected)
    accuracy = to_numpy(per_class.result())
    for c in range(29):
        seen = y_all == c
        if seen.any():
            assert accuracy[c] == pytest.approx((y_hat_all[seen] == c).mean(), abs=1e-6)
        else:
            assert np.isnan(accuracy[c])


def test_b2ilc_option_changes_only_the_predictions_compared():
    y = np.array([[BG, 3, 3, 3, BG, BG, BG, BG, BG, BG]])
    probs = one_hot_probs(np.array([[BG, 3, 7, 3, BG, BG, BG, BG, BG, BG]]))
    plain, corrected = metrics.SegmentAccuracy(), metrics.SegmentAccuracy(b2ilc=True)
    plain.update_state(y, probs)
    corrected.update_state(y, probs)
    assert float(to_numpy(plain.result())) == pytest.approx(0.9)
    assert float(to_numpy(corrected.result())) == pytest.approx(1.0)


@pytest.mark.parametrize("term", ["land", "sea", "shore"])
def test_lss_term_metric_averages_over_videos_having_the_term(term):
    metric = metrics.LSSTerm(term=term, alpha=0.5, unit=False)
    rng = np.random.default_rng(0)
    values = []
    for seed in range(3):  # equal batch sizes: one trace per op on JAX; videos still differ in terms
        size = 6
        y = random_labels(batch=size, seed=seed, p_background=0.5)
        x = rng.standard_normal((size, 10, 6)).astype("float32")
        metric.update_state(y, x)
        value, has = to_numpy(losses.lss_per_video(y, x, alpha=0.5)[term])
        values.append(value[has])
    expected = np.concatenate(values).mean()
    assert float(to_numpy(metric.result())) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("unit", [True, False], ids=["unit", "raw"])
def test_lss_term_of_one_batch_equals_the_batch_loss_term(unit):
    y = random_labels(batch=6, seed=2, p_background=0.5)
    x = np.random.default_rng(2).standard_normal((6, 10, 6)).astype("float32")
    scaled = x / np.linalg.norm(x, axis=-1, keepdims=True) if unit else x
    terms = to_numpy(losses.lss_terms(y, scaled, alpha=0.5))
    for i, term in enumerate(("land", "sea", "shore")):
        metric = metrics.LSSTerm(term=term, alpha=0.5, unit=unit)
        metric.update_state(y, x)
        assert float(to_numpy(metric.result())) == pytest.approx(float(terms[i]), rel=1e-5)


def test_lss_term_rejects_unknown_term():
    with pytest.raises(ValueError, match="term='coast'.*land"):
        metrics.LSSTerm(term="coast")


@pytest.mark.parametrize("metric", [metrics.SegmentAccuracy(b2ilc=True, witness_rate=0.6),
                                    metrics.PerClassAccuracy(num_classes=5), metrics.ConfusionMatrix(num_classes=7),
                                    metrics.LSSTerm(term="shore", alpha=0.3, unit=False)], ids=lambda m: m.name)
def test_metrics_serialize(metric):
    assert_serialization_round_trip(metric)


def test_segment_accuracy_sample_weight_per_video_masks_videos():
    y = np.array([[3] * 10, [4] * 10])
    y_hat = np.array([[3] * 10, [BG] * 10])
    metric = metrics.SegmentAccuracy()
    metric.update_state(y, one_hot_probs(y_hat), sample_weight=np.array([1.0, 0.0]))
    assert float(to_numpy(metric.result())) == pytest.approx(1.0)
