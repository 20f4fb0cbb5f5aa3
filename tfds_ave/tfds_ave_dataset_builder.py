"""AVE: audio-visual event localization features (Tian et al., ECCV 2018), a manual-download builder."""

import dataclasses
import os
import pathlib

from absl import logging
import numpy as np
import tensorflow_datasets.public_api as tfds

from tfds_ave import ave, ave_labels
from tfds_ave import ave_files as files

_HOMEPAGE = "https://github.com/YapengTian/AVE-ECCV18"
MADE_FROM = "manual_files"  # metadata key: file name -> ave_files.fingerprint of each file the build read
MADE_IN = "manual_dir"  # metadata key: the absolute path of the manual folder the build read


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
            metadata=tfds.core.MetadataDict(),
        )

    def download_and_prepare(self, *, download_dir=None, download_config=None, **kwargs):
        """TFDS' ``download_and_prepare`` with three checks of this builder's own.

        A manual folder given (``--manual_dir``) and its first files are checked before TFDS writes anything
        (one line naming the path, instead of TFDS' assertion or ``NotADirectoryError``); a build already in
        ``data_dir`` is then kept only when that folder holds the files it was made from, or is the folder it was
        made from and no longer exists (``check_made_from``);
        and a build that fails removes the folders and ``.config/metadata.json`` TFDS created for it (never what
        was there before)."""
        manual = download_config and download_config.manual_dir  # None: TFDS' default (or, in tests, its mock)
        if manual and self.is_prepared():
            self.check_made_from(manual)
        elif manual:
            what = f"tfds_ave/{self.builder_config.name}"
            files.require(pathlib.Path(manual), [files.AUDIO, files.VISUAL, files.ANNOTATIONS], what)
        skeleton = self._skeleton(download_dir)
        new = [path for path in skeleton if not os.path.lexists(path)]
        try:
            super().download_and_prepare(download_dir=download_dir, download_config=download_config, **kwargs)
        except BaseException:
            _remove_if_left(new)
            raise

    def _downloads(self, download_dir):
        return pathlib.Path(download_dir or pathlib.Path(self.data_dir_root) / "downloads")  # as TFDS' own default

    def _skeleton(self, download_dir):
        """What TFDS creates for a build, parents first: data_dir, the download folders, ``tfds_ave/.config``,
        the config's folder and its version folder."""
        downloads = self._downloads(download_dir)
        common = pathlib.Path(self.data_path).parent.parent  # data_dir/tfds_ave
        return [pathlib.Path(self.data_dir_root), downloads, downloads / "extracted", common, common / ".config",
                common / ".config" / "metadata.json", common / self.builder_config.name, pathlib.Path(self.data_path)]

    def check_made_from(self, manual):
        """Raises one line when the built config was made from other files than those in ``manual``. A build
        whose own manual folder (``manual``, recorded as ``MADE_IN``) no longer exists is kept: it is all there is
        (a run evaluated after its 7.7 GB of .h5 files were deleted)."""
        metadata = dict(self.info.metadata or {})
        recorded = metadata.get(MADE_FROM)
        if recorded and not os.path.lexists(manual) and metadata.get(MADE_IN) == os.path.abspath(manual):
            return
        files.check_folder(manual)
        where = f"{self.name}/{self.builder_config.name} in {self.data_dir_root}"
        remedy = (f"build into another data folder, or remove {pathlib.Path(self.data_path).parent} (what the build"
                  " wrote) to rebuild it here")
        if not recorded:
            raise files.AveFilesError(f"{where}: expected a record of the files it was built from, found none (built"
                                      f" by an older tfds_ave); cannot tell it was built from {manual}: {remedy}")
        changed = files.changed_files(pathlib.Path(manual), recorded)
        if changed:
            raise files.AveFilesError(f"{where}: expected the files it was built from in {manual}, found other"
                                      f" {', '.join(changed)}: {remedy}")

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
        used = [files.AUDIO, files.VISUAL, *labels.files]
        self._log_label_quirks(what, labels)

        test_segment = labels.segment
        if config.test_labels != files.LABELS:
            files.require(folder, [config.test_labels], f"{what} (C-AVE test labels from the PSP authors)")
            test_segment, multi = ave_labels.segment_labels_h5(folder, config.test_labels, rows)
            multi = [m for m in multi if m[0] in set(labels.orders["test"].tolist())]
            logging.info("%s: test segment labels from %s (%d multi-hot test segments resolved to the lowest"
                         " class)", what, config.test_labels, len(multi))
            used.append(config.test_labels)

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
            used += noisy
        self.info.metadata[MADE_FROM] = {name: files.fingerprint(folder / name) for name in used}
        self.info.metadata[MADE_IN] = os.path.abspath(folder)
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


def _remove_if_left(paths):
    """Removes, deepest first, those of ``paths`` that exist: files, and folders only when empty."""
    for path in reversed(paths):
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                os.rmdir(path)
            elif os.path.lexists(path):
                os.unlink(path)
        except OSError:  # a folder something else wrote into meanwhile: kept
            pass


def _chain(*generators):
    for g in generators:
        yield from g
