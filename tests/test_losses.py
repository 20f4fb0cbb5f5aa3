import keras
import numpy as np
import pytest

from edrnet_tf.model import losses

from helpers import assert_serialization_round_trip, gradient, random_labels, tiny_config, to_numpy

BG = 28
E = 5  # an event class
pytestmark = pytest.mark.core


def runs_of(fg):
    """Maximal runs [(start, end, is_foreground)] of a boolean row."""
    runs, start = [], 0
    for t in range(1, len(fg) + 1):
        if t == len(fg) or fg[t] != fg[start]:
            runs.append((start, t, bool(fg[start])))
            start = t
    return runs


def lss_reference(labels, features, alpha, background=BG):
    """Loop-by-loop Land/Sea/Shore of docs/design.md#objectives: per-video lists, then batch means."""
    per_term = {"land": [], "sea": [], "shore": []}
    for row, x in zip(labels, features.astype("float64")):
        runs = runs_of(row != background)
        lands, seas, shores = [], [], []
        for start, end, fg in runs:
            n = end - start
            if n >= 2:
                h = n // 2
                d = np.linalg.norm(x[start:start + h].mean(0) - x[end - h:end].mean(0))
                (lands if fg else seas).append(d)
        for left, right in zip(runs[:-1], runs[1:]):
            land, sea = (left, right) if left[2] else (right, left)
            if land[1] - land[0] < 2:
                continue
            anchor = land[1] - 1 if land is left else land[0]
            rest = [t for t in range(land[0], land[1]) if t != anchor]
            pos, neg = x[rest].mean(0), x[sea[0]:sea[1]].mean(0)
            shores.append(max(0.0, np.linalg.norm(x[anchor] - pos) - np.linalg.norm(x[anchor] - neg) + alpha))
        for term, values in (("land", lands), ("sea", seas), ("shore", shores)):
            if values:
                per_term[term].append(np.mean(values))
    return tuple(np.mean(per_term[t]) if per_term[t] else 0.0 for t in ("land", "sea", "shore"))


F, B = E, BG
PATTERNS = {
    "full_foreground": [F] * 10,
    "full_background": [B] * 10,
    "span_at_start": [F] * 4 + [B] * 6,
    "span_in_middle": [B] * 3 + [F] * 4 + [B] * 3,
    "span_at_end": [B] * 5 + [F] * 5,
    "two_spans_odd_and_even": [F, F, B, B, F, F, F, B, B, B],
    "length_one_patches": [F, B] * 5,
    "length_one_land_in_sea": [B, B, F, B, B, B, B, F, F, B],
    "odd_patches": [F, F, F, B, B, B, B, B, F, F],
    "mixed_events_one_land": [1, 2, 3, B, B, 4, 4, 4, 4, 4],
}


@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_lss_terms_match_reference_on_hand_made_patterns(name):
    labels = np.array([PATTERNS[name]] * 3, dtype="int32")
    features = np.random.default_rng(len(name)).standard_normal((3, 10, 6)).astype("float32")
    actual = [float(v) for v in to_numpy(losses.lss_terms(labels, features, alpha=0.5))]
    np.testing.assert_allclose(actual, lss_reference(labels, features, 0.5), rtol=1e-5, atol=1e-6)


def test_lss_terms_of_a_video_without_structure_are_zero_not_nan():
    features = np.random.default_rng(0).standard_normal((2, 10, 4)).astype("float32")
    for pattern, expected_zero in (("full_foreground", (1, 2)), ("full_background", (0, 2)),
                                   ("length_one_patches", (0, 1, 2))):
        terms = to_numpy(losses.lss_terms(np.array([PATTERNS[pattern]] * 2), features, alpha=0.5))
        assert all(np.isfinite(terms))
        for i in expected_zero:
            assert terms[i] == 0.0


def test_lss_terms_known_values_on_a_linear_ramp():
    # x_t = (t, 0): land [0..3] halves (0,1) vs (2,3) -> 2; sea [4..9] halves (4,5,6) vs (7,8,9) -> 3;
    # shore anchor t=3: |3 - mean(0,1,2)| = 2, |3 - mean(4..9)| = 3.5 -> max(0, 2 - 3.5 + alpha).
    labels = np.array([PATTERNS["span_at_start"]])
    features = np.stack([np.arange(10.0), np.zeros(10)], axis=-1)[None].astype("float32")
    np.testing.assert_allclose(to_numpy(losses.lss_terms(labels, features, alpha=0.5)), [2.0, 3.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(to_numpy(losses.lss_terms(labels, features, alpha=2.0)), [2.0, 3.0, 0.5], atol=1e-6)


def test_batch_terms_average_only_over_videos_that_have_them():
    labels = np.array([PATTERNS["full_foreground"], PATTERNS["full_background"], PATTERNS["span_in_middle"]])
    features = np.random.default_rng(1).standard_normal((3, 10, 5)).astype("float32")
    np.testing.assert_allclose(to_numpy(losses.lss_terms(labels, features, alpha=0.3)),
                               lss_reference(labels, features, 0.3), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("seed", range(4))
def test_lss_terms_match_reference_on_random_batches(seed):
    n = 10 if seed % 2 == 0 else 17
    labels = random_labels(batch=32, n_segments=n, seed=seed, p_background=0.5)
    features = np.random.default_rng(seed).standard_normal((32, n, 8)).astype("float32")
    np.testing.assert_allclose(to_numpy(losses.lss_terms(labels, features, alpha=1.0)),
                               lss_reference(labels, features, 1.0), rtol=1e-5, atol=1e-6)


def test_lss_gradient_is_finite_on_constant_patches():
    labels = np.array([PATTERNS["span_in_middle"], PATTERNS["two_spans_odd_and_even"]])
    features = np.ones((2, 10, 4), dtype="float32")  # every land/sea distance is exactly 0

    def total(x):
        return keras.ops.sum(keras.ops.stack(losses.lss_terms(labels, x, alpha=0.5)))

    grad = gradient(total, features)
    assert np.all(np.isfinite(grad))


def test_safe_norm_value_and_zero_gradient_at_zero():
    x = np.array([[3.0, 4.0], [0.0, 0.0]], dtype="float32")
    np.testing.assert_allclose(to_numpy(losses.safe_norm(x)), [5.0, 0.0])
    np.testing.assert_allclose(gradient(losses.safe_norm, x), [[0.6, 0.8], [0.0, 0.0]], atol=1e-6)


@pytest.mark.parametrize("unit", [True, False], ids=["unit", "raw"])
def test_land_shore_sea_loss_is_the_sum_of_terms_and_serializes(unit):
    labels = random_labels(batch=8, seed=5)
    features = 3.0 * np.random.default_rng(5).standard_normal((8, 10, 6)).astype("float32")
    loss = losses.LandShoreSeaLoss(alpha=0.7, unit=unit)
    # unit=True: the terms of Eqs. 8-10 on each segment's feature scaled to norm 1 (NumPy here).
    reference_features = features / np.linalg.norm(features, axis=-1, keepdims=True) if unit else features
    np.testing.assert_allclose(float(to_numpy(loss(labels, features))),
                               sum(lss_reference(labels, reference_features, 0.7)), rtol=1e-5)
    restored = assert_serialization_round_trip(loss)
    assert restored.alpha == 0.7 and restored.background == BG and restored.unit == unit


def test_unit_lss_is_invariant_to_the_feature_scale_and_bounded_by_the_margin():
    labels = random_labels(batch=8, seed=6)
    features = np.random.default_rng(6).standard_normal((8, 10, 6)).astype("float32")
    loss = losses.LandShoreSeaLoss(alpha=0.5, unit=True)
    small, large = float(to_numpy(loss(labels, 0.1 * features))), float(to_numpy(loss(labels, 100 * features)))
    assert small == pytest.approx(large, rel=1e-3)
    assert large <= 2.0 + 2.0 + (4.0 + 0.5)  # land, sea <= 2 and shore <= 2 + 2 + alpha on unit vectors


def test_mil_pool_is_the_segment_mean_and_mil_cross_entropy_matches_numpy():
    rng = np.random.default_rng(2)
    probs = rng.dirichlet(np.ones(29), size=(4, 10)).astype("float32")
    video = np.array([0, 5, 28, 3])
    pooled = probs.mean(axis=1)
    np.testing.assert_allclose(to_numpy(losses.mil_pool(probs)), pooled, rtol=1e-6)
    expected = -np.log(pooled[np.arange(4), video]).mean()
    np.testing.assert_allclose(float(to_numpy(losses.MILCrossEntropy()(video, probs))), expected, rtol=1e-5)
    assert_serialization_round_trip(losses.MILCrossEntropy())


def test_objective_sel_and_wsel_key_their_losses_by_output_name():
    config = tiny_config(lambda1=1.0, lambda2=0.25, alpha=0.4)
    loss, weights = losses.objective(config, "sel")
    assert sorted(loss) == ["features", "probs"] and weights == {"probs": 1.0, "features": 0.25}
    assert isinstance(loss["features"], losses.LandShoreSeaLoss) and loss["features"].alpha == 0.4
    loss, weights = losses.objective(config, "wsel")
    assert list(loss) == ["probs"] and isinstance(loss["probs"], losses.MILCrossEntropy)


@pytest.mark.parametrize("branches,heads", [(("A", "V", "AV"), ["probs_audio", "probs_visual"]),
                                            (("A", "AV"), ["probs_audio"]), (("V",), ["probs_visual"])])
def test_branch_loss_weight_adds_a_cross_entropy_on_each_present_branch_head(branches, heads):
    loss, weights = losses.objective(tiny_config(branches=branches, branch_loss_weight=0.5), "sel")
    assert sorted(loss) == sorted(["features", "probs"] + heads)
    assert all(weights[head] == 0.5 for head in heads)
    plain, _ = losses.objective(tiny_config(branches=branches), "sel")
    assert sorted(plain) == ["features", "probs"]


def test_objective_rejects_unknown_task():
    with pytest.raises(ValueError, match="task='mil'.*sel"):
        losses.objective(tiny_config(), "mil")
