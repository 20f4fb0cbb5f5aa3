"""The one place every default lives: ``EDRNetConfig`` (the model and its objectives), ``TrainSettings``
(everything of a run that is not the model) and the per-dataset defaults of both.

``--dataset synthetic`` is the CPU demo, ``--dataset ave`` the full setting; ``model_config(dataset)`` and
``TrainSettings.for_dataset(dataset)`` apply their defaults, and every CLI reads its flag defaults from
here (docs/training.md "Recipe" says how they were chosen).
"""

import dataclasses
import math
import pathlib

from edrnet_tf import ave

BRANCHES = ("A", "V", "AV")


def max_layers(k, n_segments=ave.N_SEGMENTS):
    """L_max(k): the largest number of valid Conv1D layers of kernel ``k`` that leaves a positive length.

    Each decomposition layer shortens the sequence by ``k - 1`` (paper, "EDRNet Configurations"), so
    L_max is the largest L with ``n_segments - L * (k - 1) > 0``: k = 2, 3, 4, 5 gives 9, 4, 3, 2 for N = 10.
    """
    if k < 2:
        raise ValueError(f"k (kernel_size) must be >= 2, got {k}")
    if n_segments < k:
        raise ValueError(f"n_segments must be >= k={k}, got {n_segments}")
    return (n_segments - 1) // (k - 1)


def min_segments(k, num_layers):
    """The shortest input a model of ``num_layers`` layers of kernel ``k`` accepts: L*(k-1)+1."""
    return num_layers * (k - 1) + 1


@dataclasses.dataclass(frozen=True)
class EDRNetConfig:
    """Every hyperparameter of EDRNet and its objectives.

    Paper defaults (Implementation Details): k = 3, L = 4, d = 768. The rest is not in the paper
    (its supplement is not available); docs/design.md says how each was chosen.

    Attributes:
        kernel_size: k, the temporal kernel of every decomposition, recomposition and gate layer.
        num_layers: L, decomposition (and recomposition) layers per branch; 1 <= L <= L_max(k).
        width: d, the feature width of every temporal layer.
        visual_kernel_size: spatial kernel of the visual Conv2D (before GAP).
        visual_width: d_v, the filters of the visual Conv2D (the paper keeps the 512 of VGG-19).
        dropout: dropout rate after each decomposition and recomposition layer.
        input_dropout: dropout rate on each segment's audio vector and pooled visual vector before the
            branches (not in the paper; 0 has none; docs/training.md "Recipe" measures it).
        branches: the active decomposition branches, a subset of ("A", "V", "AV") holding A or V (Table 4).
        num_classes: C, 28 events + background.
        background: index of the background class.
        lambda1: weight of the segment cross entropy in the SEL objective.
        lambda2: weight of the Land-Shore-Sea loss in the SEL objective.
        alpha: the shore triplet margin of Eq. 10.
        witness_rate: the B2ILC WR threshold (strict majority at 0.5).
        n_segments: N of the training data; the model accepts any N >= L*(k-1)+1.
        position_scale: multiplier of the sinusoidal positions added to each branch's input (Eq. 1 has 1).
        normalize_inputs: standardise every audio and visual input channel with training-split statistics
            held in the model (``EDRNet.set_input_statistics``), so it keeps taking raw AVE features.
        lss_unit_features: compute the Land-Shore-Sea distances on L2-normalised segment features, so
            every distance lies in [0, 2] like the shore margin alpha (off: on the raw features).
        branch_loss_weight: weight of an auxiliary segment cross entropy on each of the audio and visual
            heads (not in the paper; 0 trains only the gated head, as the paper's objective).
    """

    kernel_size: int = 3
    num_layers: int = 4
    width: int = 768
    visual_kernel_size: int = 3
    visual_width: int = 512
    dropout: float = 0.4
    input_dropout: float = 0.5
    branches: tuple = BRANCHES
    num_classes: int = ave.NUM_CLASSES
    background: int = ave.BACKGROUND
    lambda1: float = 1.0
    lambda2: float = 0.1
    alpha: float = 0.5
    witness_rate: float = 0.5
    n_segments: int = ave.N_SEGMENTS
    position_scale: float = 0.1
    normalize_inputs: bool = True
    lss_unit_features: bool = True
    branch_loss_weight: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "branches", tuple(self.branches))
        self.validate()

    def validate(self):
        def bad(field, value, allowed):
            raise ValueError(f"EDRNetConfig.{field}={value!r} is invalid: expected {allowed}")

        if not isinstance(self.kernel_size, int) or self.kernel_size < 2:
            bad("kernel_size", self.kernel_size, "an integer >= 2")
        if not isinstance(self.n_segments, int) or self.n_segments < self.kernel_size:
            bad("n_segments", self.n_segments, f"an integer >= kernel_size={self.kernel_size}")
        l_max = max_layers(self.kernel_size, self.n_segments)
        if not isinstance(self.num_layers, int) or not 1 <= self.num_layers <= l_max:
            bad("num_layers", self.num_layers,
                f"an integer in [1, {l_max}] (L_max for k={self.kernel_size}, N={self.n_segments})")
        for field in ("width", "visual_kernel_size", "visual_width"):
            value = getattr(self, field)
            if not isinstance(value, int) or value < 1:
                bad(field, value, "an integer >= 1")
        for field in ("dropout", "input_dropout"):
            value = getattr(self, field)
            if not (isinstance(value, (int, float)) and 0.0 <= value < 1.0):
                bad(field, value, "a rate in [0, 1)")
        unknown = [b for b in self.branches if b not in BRANCHES]
        if unknown or len(set(self.branches)) != len(self.branches):
            bad("branches", self.branches, f"distinct names from {BRANCHES}")
        if not ({"A", "V"} & set(self.branches)):
            bad("branches", self.branches, "at least one of 'A' or 'V' (AV alone has no recomposition branch)")
        if not isinstance(self.num_classes, int) or self.num_classes < 2:
            bad("num_classes", self.num_classes, "an integer >= 2")
        if not 0 <= self.background < self.num_classes:
            bad("background", self.background, f"an index in [0, {self.num_classes - 1}]")
        for field in ("normalize_inputs", "lss_unit_features"):
            if not isinstance(getattr(self, field), bool):
                bad(field, getattr(self, field), "True or False")
        for field in ("lambda1", "lambda2", "alpha", "branch_loss_weight", "position_scale"):
            value = getattr(self, field)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                bad(field, value, "a finite value >= 0")
        if not 0.0 <= self.witness_rate < 1.0:
            bad("witness_rate", self.witness_rate, "a rate in [0, 1)")

    @property
    def max_layers(self):
        return max_layers(self.kernel_size, self.n_segments)

    @property
    def min_segments(self):
        return min_segments(self.kernel_size, self.num_layers)

    def replace(self, **changes):
        """A copy with ``changes`` applied and validated."""
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        d = dataclasses.asdict(self)
        d["branches"] = list(self.branches)
        return d

    @classmethod
    def from_dict(cls, d):
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - fields)
        if unknown:
            raise ValueError(f"EDRNetConfig has no field(s) {unknown}; expected names from {sorted(fields)}")
        return cls(**d)


DATASETS = ("synthetic", "ave")
DATA_PLACEMENTS = ("host", "device")  # tf.data batches from host memory, or features held on the accelerator
PRECISIONS = ("float32", "bfloat16")  # bfloat16: Keras' "mixed_bfloat16" policy (head and losses in float32)
# How the learning rate follows the batch size: lr * (batch / reference batch) ** power (docs/accelerators.md).
LR_SCALINGS = {"none": 0.0, "sqrt": 0.5, "linear": 1.0}

# EDRNetConfig changes per --dataset: the paper's size for AVE, a narrower model for the CPU demo.
MODEL_DEFAULTS = {"ave": {}, "synthetic": dict(width=256, visual_width=128)}

# TrainSettings values per --dataset; TrainSettings' own field defaults are the "ave" ones. The demo trains at
# Adam 1e-3 for up to 30 epochs: at 3e-4 for 20 it stopped still rising (docs/training.md#the-demos-schedule).
TRAINING_DEFAULTS = {
    "ave": dict(synthetic_videos=None, batch_size=32, epochs=60, smb_per_class=250, optimizer="adam",
                learning_rate=3e-4, lr_schedule="constant", warmup_epochs=0, weight_decay=0.0, early_stopping=10,
                jit_compile=True),
    "synthetic": dict(synthetic_videos=400, batch_size=16, epochs=30, smb_per_class=4, optimizer="adam",
                      learning_rate=1e-3, lr_schedule="constant", warmup_epochs=0, weight_decay=0.0,
                      early_stopping=10, jit_compile=False),
}


def model_config(dataset, **changes):
    """The ``EDRNetConfig`` of ``dataset``'s defaults with ``changes`` applied."""
    if dataset not in MODEL_DEFAULTS:
        raise ValueError(f"--dataset={dataset!r} is invalid: expected one of {', '.join(DATASETS)}")
    return EDRNetConfig(**{**MODEL_DEFAULTS[dataset], **changes})


_AVE = TRAINING_DEFAULTS["ave"]



@dataclasses.dataclass(frozen=True)
class TrainSettings:
    """Everything of a run that is not the model: data, task, optimisation, output (each is a flag of
    ``python -m edrnet_tf.train``; ``training/flags.py`` documents them).

    The field defaults are the full AVE setting (``TRAINING_DEFAULTS["ave"]``); ``for_dataset`` gives the
    defaults of either dataset.
    """

    dataset: str = "ave"
    data_dir: pathlib.Path = None
    manual_dir: pathlib.Path = None
    cache_dir: pathlib.Path = None
    synthetic_videos: int = _AVE["synthetic_videos"]
    synthetic_seed: int = 0
    task: str = "sel"
    test_labels: str = "original"
    smb_per_class: int = _AVE["smb_per_class"]
    smb_sequences: str = "machine"
    batch_size: int = _AVE["batch_size"]
    epochs: int = _AVE["epochs"]
    optimizer: str = _AVE["optimizer"]
    learning_rate: float = _AVE["learning_rate"]
    lr_schedule: str = _AVE["lr_schedule"]
    lr_scaling: str = "none"
    warmup_epochs: int = _AVE["warmup_epochs"]
    weight_decay: float = _AVE["weight_decay"]
    early_stopping: int = _AVE["early_stopping"]
    plateau_patience: int = 3
    seed: int = 0
    jit_compile: bool = _AVE["jit_compile"]
    data_placement: str = "host"
    mixed_precision: str = "float32"
    output: pathlib.Path = pathlib.Path("runs/edrnet")
    distribution: str = "auto"
    backup: bool = False
    per_class_every: int = 1

    @classmethod
    def for_dataset(cls, dataset, **changes):
        """The settings of ``dataset``'s defaults with ``changes`` applied."""
        if dataset not in TRAINING_DEFAULTS:
            raise ValueError(f"--dataset={dataset!r} is invalid: expected one of {', '.join(DATASETS)}")
        return cls(dataset=dataset, **{**TRAINING_DEFAULTS[dataset], **changes})

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    @property
    def reference_batch_size(self):
        """The batch size ``learning_rate`` is given for: the dataset's default batch size."""
        return TRAINING_DEFAULTS[self.dataset]["batch_size"]

    @property
    def scaled_learning_rate(self):
        """The learning rate the optimiser starts from (after any warm-up): ``learning_rate`` at
        ``reference_batch_size``, scaled to ``batch_size`` by ``lr_scaling`` (``"sqrt"``: by the square root
        of the ratio, ``"linear"``: by the ratio, ``"none"``: not)."""
        if self.lr_scaling not in LR_SCALINGS:
            raise ValueError(f"--lr-scaling={self.lr_scaling!r} is invalid: expected one of {', '.join(LR_SCALINGS)}")
        return self.learning_rate * (self.batch_size / self.reference_batch_size) ** LR_SCALINGS[self.lr_scaling]

    def to_dict(self):
        return {k: (str(v) if isinstance(v, pathlib.Path) else v) for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, d):
        """The settings of a ``to_dict()`` (a run's ``run.json``)."""
        paths = ("data_dir", "manual_dir", "cache_dir", "output")
        return cls(**{k: (pathlib.Path(v) if k in paths and v else v) for k, v in d.items()})
