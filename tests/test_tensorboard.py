"""What TensorBoard shows of a run, read back from the event files of a tiny two-epoch ``fit`` wired as the
runner wires it (``SegmentValidation`` first, no ``validation_data``): grouped tags overlaid in the
``train`` and ``validation`` runs, no ``evaluation_*`` copies, one step numbering, the HParams experiment
with its metrics and session, and the test figures at the last epoch's step."""

import numpy as np
import pytest
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.plugins.hparams import api_pb2, metadata
from tensorboard.util import tensor_util

from edrnet_tf import EDRNet, ave
from edrnet_tf.config import TrainSettings
from edrnet_tf.model.losses import objective
from edrnet_tf.training import callbacks, run_folder, task, tensorboard
from helpers import random_inputs, random_labels, tiny_config

EPOCHS = 2
LAST_STEP = EPOCHS - 1
TRAIN_TAGS = {"loss/total", "loss/cross_entropy", "loss/lss", "accuracy/gated", "accuracy/audio", "accuracy/visual",
              "lss/land", "lss/sea", "lss/shore", "learning_rate"}
VALIDATION_TAGS = TRAIN_TAGS - {"learning_rate"} | {"accuracy/gated_b2ilc"}
FIGURES = {"dataset": "synthetic AVE-layout features (...)", "synthetic": True,
           "headline": {"labels": "original", "head": "gated", "b2ilc": True, "accuracy": 0.5},
           "test": {labels: {head: {"raw": 0.25, "b2ilc": 0.5} for head in ("gated", "audio", "visual")}
                    for labels in ("original", "corrected")},
           "majority_baseline": {"class": "Background", "index": 28, "original": 0.1, "corrected": 0.2},
           "best_epoch_val_segment_accuracy": 0.75}


def read(folder):
    accumulator = event_accumulator.EventAccumulator(str(folder), size_guidance={event_accumulator.TENSORS: 0})
    return accumulator.Reload()


def steps(run, tag):
    return [event.step for event in run.Tensors(tag)]


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    """The TensorBoard folder of a tiny sel run (2 epochs) and its test figures."""
    output = tmp_path_factory.mktemp("tensorboard")
    config = tiny_config()
    settings = TrainSettings(epochs=EPOCHS, batch_size=2, synthetic_videos=None, output=output)
    model = EDRNet(config)
    loss, loss_weights = objective(config, "sel")
    model.compile(optimizer="adam", loss=loss, loss_weights=loss_weights,
                  metrics=task.compiled_metrics(config, "sel", list(model.output)))
    labels = random_labels(batch=4)
    folder = output / "logs"
    model.fit(random_inputs(batch=4), dict.fromkeys(model.output, labels), batch_size=2, epochs=EPOCHS, verbose=0,
              callbacks=[callbacks.SegmentValidation(random_inputs(batch=3, seed=1), random_labels(batch=3, seed=1),
                                                     None, config, "sel", views=tensorboard.ValidationViews(folder / "validation"),
                                                     batch_size=2),
                         callbacks.StopOnDivergence(), callbacks.HistoryCSV(output / "history.csv"),
                         tensorboard.TensorBoard(folder),
                         tensorboard.HParams(folder, config, settings, test_labels=("original", "corrected"),
                                             trial_id="tiny")])
    tensorboard.write_test_figures(folder, FIGURES, run_folder.last_epoch(output / "history.csv"))
    return folder


def test_epoch_scalars_are_grouped_and_overlay_in_the_train_and_validation_runs(logs):
    train, validation = read(logs / "train"), read(logs / "validation")
    assert set(train.Tags()["tensors"]) == TRAIN_TAGS
    scalars = {tag for tag in validation.Tags()["tensors"] if not tag.startswith("per_class_accuracy/")}
    assert scalars == VALIDATION_TAGS | {"confusion_matrix", "confusion_matrix_classes"}
    for run, tags in ((train, TRAIN_TAGS), (validation, VALIDATION_TAGS)):
        for tag in tags:
            assert steps(run, tag) == list(range(EPOCHS)), tag


def test_no_keras_duplicates_and_one_step_numbering(logs):
    validation = read(logs / "validation")
    tags = validation.Tags()["tensors"]
    assert not [tag for tag in tags if tag.startswith(("evaluation_", "epoch_"))]
    per_class = [tag for tag in tags if tag.startswith("per_class_accuracy/")]
    assert per_class and all(steps(validation, tag) == list(range(EPOCHS)) for tag in per_class)
    assert steps(validation, "confusion_matrix") == list(range(EPOCHS))
    assert steps(read(logs), tensorboard.BEST_TAG) == list(range(EPOCHS))


def test_hparams_declare_the_metrics_and_end_the_session(logs):
    root = read(logs)
    content = {tag: root.SummaryMetadata(tag).plugin_data.content for tag in root.Tags()["tensors"]
               if tag.startswith("_hparams_/")}
    experiment = metadata.parse_experiment_plugin_data(content[metadata.EXPERIMENT_TAG])
    declared = [info.name.tag for info in experiment.metric_infos]
    assert declared[:2] == [tensorboard.BEST_TAG, tensorboard.HEADLINE_TAG]
    assert {"test/original/gated_b2ilc", "test/corrected/visual", "test/corrected/audio_b2ilc"} <= set(declared)
    hparams = {info.name for info in experiment.hparam_infos}
    assert {"plateau_patience", "test_labels", "synthetic_videos", "alpha", "branches"} <= hparams
    start = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
    assert start.group_name == "tiny"
    assert start.hparams["batch_size"].number_value == 2 and start.hparams["synthetic_videos"].number_value == 0
    assert start.hparams["branches"].string_value == "A,V,AV" and start.hparams["jit_compile"].bool_value
    end = metadata.parse_session_end_info_plugin_data(content[metadata.SESSION_END_INFO_TAG])
    assert end.status == api_pb2.STATUS_SUCCESS


def experiment_of(folder):
    root = read(folder)
    return metadata.parse_experiment_plugin_data(root.SummaryMetadata(metadata.EXPERIMENT_TAG).plugin_data.content)


def test_every_hyperparameter_has_a_typed_domain_and_no_machine_path_is_one(logs):
    """Read back from the event file: bools and strings discrete with their choices, numbers intervals; TensorBoard
    otherwise reports DATA_TYPE_UNSET and draws no parallel coordinates nor filters."""
    config, settings = tiny_config(), TrainSettings(epochs=EPOCHS, batch_size=2, synthetic_videos=None)
    fields = {**settings.to_dict(), **config.to_dict()}
    infos = {info.name: info for info in experiment_of(logs).hparam_infos}
    assert set(infos) == set(fields) - {"data_dir", "manual_dir", "cache_dir", "output"}
    for name, info in infos.items():
        value = fields[name]
        assert info.type != api_pb2.DATA_TYPE_UNSET, name
        if isinstance(value, bool):
            assert info.type == api_pb2.DATA_TYPE_BOOL and list(info.domain_discrete) == [False, True]
        elif isinstance(value, (str, list)):
            choices = list(info.domain_discrete)
            assert info.type == api_pb2.DATA_TYPE_STRING and len(choices) > 1, name
            assert (",".join(value) if isinstance(value, list) else value) in choices
        else:
            assert info.type == api_pb2.DATA_TYPE_FLOAT64 and info.HasField("domain_interval"), name
            assert info.domain_interval.min_value <= (value or 0) <= info.domain_interval.max_value
    assert list(infos["optimizer"].domain_discrete) == ["adam", "adamw", "sgd"]
    assert "A,V,AV" in list(infos["branches"].domain_discrete)


def test_hparams_values_keep_integers_and_log_every_setting_but_the_paths():
    config, settings = tiny_config(), TrainSettings(synthetic_videos=60)
    values = tensorboard.hparams_values(config, settings)
    assert set(values) == (set(settings.to_dict()) | set(config.to_dict())) - set(tensorboard.MACHINE_PATHS)
    assert type(values["batch_size"]) is int and type(values["synthetic_videos"]) is int
    assert type(values["learning_rate"]) is float and values["jit_compile"] is True


def test_test_figures_sit_at_the_last_step_under_the_declared_tags(logs):
    root = read(logs)
    assert steps(root, tensorboard.HEADLINE_TAG) == steps(root, tensorboard.BEST_ONCE_TAG) == [LAST_STEP]
    best = tensor_util.make_ndarray(root.Tensors(tensorboard.BEST_ONCE_TAG)[0].tensor_proto)
    assert best == pytest.approx(0.75)  # one point: Time Series' smoothing leaves a series' first point as it is
    for labels in ("original", "corrected"):
        for head in ("gated", "audio", "visual"):
            assert steps(root, f"test/{labels}/{head}") == [LAST_STEP]
            value = tensor_util.make_ndarray(root.Tensors(f"test/{labels}/{head}_b2ilc")[0].tensor_proto)
            assert value == pytest.approx(0.5)
    summary = root.Tensors("test/summary")[0]
    assert summary.step == LAST_STEP
    text = tensor_util.make_ndarray(summary.tensor_proto).item().decode()
    assert "| gated | on | 0.5000 | 0.5000 |" in text and "| always 'Background' | | 0.1000 | 0.2000 |" in text
    assert text.startswith("**WARNING: synthetic data.** synthetic AVE-layout features")


def test_the_headline_is_the_first_time_series_group():
    """Time Series sorts its groups by tag and opens the first two: the headline's group sorts before the others
    (upper case before lower case, as its sort compares character codes)."""
    groups = {tag.split("/")[0] for tag in [*tensorboard.TAGS.values(), tensorboard.BEST_TAG, "test/original/gated",
                                            "per_class_accuracy/Bark", "confusion_matrix", "confusion_matrix_classes"]}
    assert all(tensorboard.HEADLINE_TAG.split("/")[0] < group for group in groups)
    assert tensorboard.HEADLINE_TAG < tensorboard.BEST_ONCE_TAG  # the test headline is the group's first card


def test_the_confusion_matrix_keys_its_indices_and_marks_rows_without_segments(logs):
    validation = read(logs / "validation")
    key = tensor_util.make_ndarray(validation.Tensors("confusion_matrix_classes")[0].tensor_proto).item().decode()
    assert "| 0 | Church bell |" in key and "| 28 | Background |" in key
    image = tensorboard.confusion_image(np.diag([3.0] * 28 + [0.0]), ave.class_names(), "t")
    assert image.shape[1:] == (560, 640, 4)  # card size, not 720x640 for 6-pt names


def test_a_failed_fit_ends_its_session_as_failed(tmp_path):
    tensorboard.end_failed_session(tmp_path)
    content = read(tmp_path).SummaryMetadata(metadata.SESSION_END_INFO_TAG).plugin_data.content
    assert metadata.parse_session_end_info_plugin_data(content).status == api_pb2.STATUS_FAILURE
