"""AVE: audio-visual event localization features (Tian et al., ECCV 2018), a manual-download builder."""

import dataclasses

from absl import logging
import numpy as np
import tensorflow_datasets.public_api as tfds

from tfds_ave import ave, ave_labels
from tfds_ave import ave_files as files

_HOMEPAGE = "https://github.com/YapengTian/AVE-ECCV18"


@dataclasses.dataclass
class AveConfig(tfds.core.BuilderConfig):
    """Which labels each split carries.

    Attributes:
        test_labels: file holding the test split's segment labels (O-AVE ``labels.h5`` or C-AVE
            ``right_labels.h5``).
        weak: weakly supervised protocol: the train split carries video labels only (broadcast to the
            10 segments) and adds the background-only videos of the ``*_noisy.h5`` files.
    """

    test_labels: str = files.LABELS
    weak: bool = False


class Builder(tfds.core.GeneratorBasedBuilder):
    """AVE dataset builder (features released by the AVE authors)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release: supervised, corrected and weakly_supervised configs."}
    BUILDER_CONFIGS = [
        AveConfig(name="supervised", description="Segment labels of the original AVE annotations (O-AVE)."),
        AveConfig(
            name="corrected",
            description="Test segment labels from right_labels.h5 (C-AVE, corrected by the PSP authors).",
            test_labels=files.RIGHT_LABELS,
        ),
        AveConfig(
            name="weakly_supervised",
            description="Train: video labels only, plus the background-only videos; val/test: segment labels.",
            weak=True,
        ),
    ]
    DEFAULT_BUILDER_CONFIG_NAME = "supervised"
    MANUAL_DOWNLOAD_INSTRUCTIONS = f"""\
    Download the AVE features by hand and put these files, with these exact names, in one folder
    (pass it as `--manual_dir`):

    From the AVE authors (YapengTian/AVE-ECCV18 README, "Download ... features" Google Drive links):
      {files.AUDIO}, {files.VISUAL} (7.7 GB), {files.LABELS}, {files.MIL_LABELS},
      {', '.join(files.ORDER_FILES.values())}
      and, for the weakly_supervised config, {files.NOISY_AUDIO}, {files.NOISY_VISUAL}, {files.NOISY_LABELS}.
    From the AVE dataset (the AVE_Dataset.zip of the same README, or data/Annotations.txt of the repo):
      {files.ANNOTATIONS} (with or without its header line).
    From the PSP authors (jasongief/PSP_CVPR_2021, the corrected AVE test labels), for the corrected config:
      {files.RIGHT_LABELS}.
    Labels and splits are read from {files.LABELS} + {files.MIL_LABELS} + the three *_order.h5 files
    when all are present, otherwise from {files.ANNOTATIONS} + {', '.join(files.TEXT_LABEL_FILES)}
    (the split files of the AVE dataset zip).
    """

    def _info(self):
        names = list(ave.class_names())
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "audio": tfds.features.Tensor(shape=files.AUDIO_TAIL, dtype=np.float32,
                                              encoding=tfds.features.Encoding.BYTES),
                "visual": tfds.features.Tensor(shape=files.VISUAL_TAIL, dtype=np.float32,
                                               encoding=tfds.features.Encoding.BYTES),
                "segment_labels": tfds.features.Sequence(tfds.features.ClassLabel(names=names),
                                                         length=ave.N_SEGMENTS),
                "video_label": tfds.features.ClassLabel(names=names),
                "row": np.int64,
                "video_id": tfds.features.Text(),
                "span": tfds.features.Tensor(shape=(2,), dtype=np.int64),
            }),
            homepage=_HOMEPAGE,
        )

    def _split_generators(self, dl_manager):
        folder = dl_manager.manual_dir
        config = self.builder_config
        what = f"tfds_ave/{config.name}"
        files.require(folder, [files.AUDIO, files.VISUAL, files.ANNOTATIONS], what)
        labels = ave_labels.read_labels(folder)
        rows = len(labels.annotations)
        why = f" for the {rows} rows of {files.ANNOTATIONS}"
        files.check_feature_file(folder / files.AUDIO, rows, files.AUDIO_TAIL, why)
        files.check_feature_file(folder / files.VISUAL, rows, files.VISUAL_TAIL, why)
        logging.info("%s: labels and splits from %s", what, labels.source)
        self._log_label_quirks(what, labels)

        test_segment = labels.segment
        if config.test_labels != files.LABELS:
            files.require(folder, [config.test_labels], f"{what} (C-AVE test labels from the PSP authors)")
            test_segment, multi = ave_labels.segment_labels_h5(folder, config.test_labels, rows)
            multi = [m for m in multi if m[0] in set(labels.orders["test"].tolist())]
            logging.info("%s: test segment labels from %s (%d multi-hot test segments resolved to the lowest"
                         " class)", what, config.test_labels, len(multi))

        def gen(split, segment, weak=False):
            return dict(folder=folder, labels=labels, rows=labels.orders[split], segment=segment, weak=weak)

        splits = {
            "train": self._generate_examples(**gen("train", labels.segment, weak=config.weak)),
            "validation": self._generate_examples(**gen("validation", labels.segment)),
            "test": self._generate_examples(**gen("test", test_segment)),
        }
        if config.weak:
            noisy = [files.NOISY_AUDIO, files.NOISY_VISUAL, files.NOISY_LABELS]
            files.require(folder, noisy, f"{what} (background-only videos)")
            count = ave_labels.check_noisy(folder)
            logging.info("%s: train adds the %d background-only videos of %s", what, count, ", ".join(noisy))
            splits["train"] = _chain(splits["train"], self._generate_noisy(folder, count))
        return splits

    @staticmethod
    def _log_label_quirks(what, labels):
        multi_rows = sorted({r for r, _ in labels.multi_hot})
        logging.info(
            "%s: %d segment labels in %d rows %s had several classes set; each took its lowest class index"
            " (np.argmax, as in the AVE-ECCV18/PSP evaluation code)",
            what, len(labels.multi_hot), len(multi_rows), multi_rows[:10])
        has_event = labels.segment != ave.BACKGROUND
        foreign = np.flatnonzero((has_event & (labels.segment != labels.video[:, None])).any(-1))
        if foreign.size:
            logging.info("%s: %d rows carry segment events other than their video label: %s",
                         what, foreign.size, foreign[:10].tolist())
        empty = np.flatnonzero(~has_event.any(-1))
        if empty.size:
            logging.info("%s: %d annotated rows have no event segment (zero-length span): %s",
                         what, empty.size, empty[:10].tolist())

    def _generate_examples(self, folder, labels, rows, segment, weak=False):
        """Yields one example per annotated video of the split (feature rows read a chunk at a time)."""
        for row, audio, visual in files.iter_features(folder / files.AUDIO, folder / files.VISUAL, rows):
            a = labels.annotations[row]
            video = int(labels.video[row])
            yield f"row{row:05d}", {
                "audio": audio,
                "visual": visual,
                # Weak protocol: the segment truth is not given, only the video label (broadcast).
                "segment_labels": np.full(ave.N_SEGMENTS, video) if weak else segment[row],
                "video_label": video,
                "row": row,
                "video_id": a.video_id,
                "span": np.array([-1, -1] if weak else [a.start, a.end], np.int64),
            }

    def _generate_noisy(self, folder, count):
        """The background-only videos: row = -1 - (their row in the *_noisy.h5 files)."""
        for j, audio, visual in files.iter_features(folder / files.NOISY_AUDIO, folder / files.NOISY_VISUAL,
                                                    np.arange(count)):
            yield f"noisy{j:04d}", {
                "audio": audio,
                "visual": visual,
                "segment_labels": np.full(ave.N_SEGMENTS, ave.BACKGROUND),
                "video_label": ave.BACKGROUND,
                "row": -1 - j,
                "video_id": f"noisy{j:04d}",
                "span": np.array([0, 0], np.int64),
            }


def _chain(*generators):
    for g in generators:
        yield from g
