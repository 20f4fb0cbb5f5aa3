"""The health lines: a head that ends at the always-majority rate, a run still improving at its last epoch."""

from edrnet_tf.evaluation import report


def figures(gated, audio, visual):
    return {"original": {"gated": {"raw": gated, "b2ilc": gated}, "audio": {"raw": audio, "b2ilc": audio},
                         "visual": {"raw": visual, "b2ilc": visual}}}


MAJORITY = {"class": "Background", "index": 28, "original": 0.178}


def test_a_head_within_two_points_of_the_majority_rate_is_named():
    found = report.health_warnings(figures(0.70, 0.65, 0.192), MAJORITY)
    assert len(found) == 1
    assert "visual head" in found[0] and "0.1920" in found[0] and "0.1780" in found[0]


def test_heads_well_above_the_majority_rate_give_no_warning():
    assert report.health_warnings(figures(0.70, 0.65, 0.30), MAJORITY) == []


def test_the_printed_table_ends_with_the_warnings():
    test = figures(0.18, 0.65, 0.60)
    table = report.format_table({"dataset": "synthetic", "test_segments": 40, "test": test,
                                 "majority_baseline": MAJORITY, "health": report.health_warnings(test, MAJORITY)})
    assert table.splitlines()[-1].startswith("WARNING: the gated head")


def test_a_run_whose_last_epoch_set_a_new_best_validation_is_named_unconverged():
    found = report.convergence_warnings([0.17, 0.55, 0.71, 0.7949])
    assert len(found) == 1
    assert "peaked at the last epoch (4: 0.7949)" in found[0] and "more --epochs" in found[0]


def test_a_run_that_peaked_earlier_or_plateaued_gives_no_convergence_warning():
    assert report.convergence_warnings([0.5, 0.86, 0.84]) == []
    assert report.convergence_warnings([0.5, 0.86, 0.86]) == []  # the tie keeps the earlier checkpoint
    assert report.convergence_warnings([0.5]) == []
    assert report.convergence_warnings([]) == []
