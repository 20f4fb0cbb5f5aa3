"""The search spaces of the paper's Fig. 7 sweeps ("EDRNet Configurations", "Impact of SMB Video Fusion") and
of the open searches (random, hyperband, bayesian), declared as Keras Tuner hyperparameters.

Hyperparameter names: ``kernel_size`` (k), ``num_layers_k{k}`` (L, one per k, declared under
``hp.conditional_scope("kernel_size", [k])`` with range [1, L_max(k)], so a sampled L never exceeds the
L_max of the sampled k), ``width`` (d), ``smb_per_class`` (S, SMB fused videos per class), ``learning_rate``
and ``lambda2``. One value gives an ``hp.Fixed``; several an ``hp.Int`` (evenly spaced) or ordered
``hp.Choice``; a ``(low, high)`` float range a log-sampled ``hp.Float``.
"""

import dataclasses

from edrnet_tf.config import max_layers

KERNEL_SIZES = (2, 3, 4, 5)
WIDTHS = tuple(range(256, 1537, 256))
SMB_VALUES = (0,) + tuple(range(50, 401, 50))
LEARNING_RATE_RANGE = (1e-5, 1e-3)
LAMBDA2_RANGE = (0.01, 1.0)
GRID_STUDIES = ("fig7a", "fig7b", "fig7c", "fig7d")
STUDIES = GRID_STUDIES + ("random", "hyperband", "bayesian")
# The swept dimension of each Fig. 7 panel: (panel letter, hyperparameter, axis label).
PANELS = {
    "fig7a": ("a", "kernel_size", "temporal kernel size k (L = L_max(k))"),
    "fig7b": ("b", "num_layers", "(de/re)composition layers L"),
    "fig7c": ("c", "width", "network width d"),
    "fig7d": ("d", "smb_per_class", "SMB fused videos per class S"),
}
RESOLVED = ("kernel_size", "num_layers", "width", "smb_per_class", "learning_rate", "lambda2")


def layers_name(k):
    return f"num_layers_k{k}"


def _declare(hp, name, values, default, log_range=False):
    """Declares ``name`` over ``values`` (see module docstring) and returns its current value; with
    ``log_range``, ``values`` is a ``(low, high)`` float range sampled log-uniformly."""
    if log_range:
        low, high = values
        inside = default is not None and low <= default <= high
        return hp.Float(name, low, high, sampling="log", default=default if inside else low)
    values = sorted(set(values))
    default = default if default in values else values[0]
    if len(values) == 1:
        return hp.Fixed(name, values[0])
    steps = {b - a for a, b in zip(values, values[1:])}
    if all(isinstance(v, int) for v in values) and len(steps) == 1:
        return hp.Int(name, values[0], values[-1], step=steps.pop(), default=default)
    return hp.Choice(name, values, ordered=True, default=default)


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """The values each tuned quantity may take.

    Attributes:
        kernel_sizes: k values.
        num_layers: L per k: "max" (L = L_max(k) only, Fig. 7a), "all" (1..L_max(k)), or a tuple of L
            values (those above L_max(k) are dropped for that k).
        widths: d values.
        smb_values: S values (0 = no SMB fusion).
        learning_rate: a fixed float or a (low, high) tuple: a range sampled log-uniformly.
        lambda2: the Land-Shore-Sea loss weight, a fixed float or a (low, high) range.
        defaults: {"kernel_size", "num_layers", "width", "smb_per_class"} values tried first (grid search)
            when they are in the space.
    """

    kernel_sizes: tuple
    num_layers: object
    widths: tuple
    smb_values: tuple
    learning_rate: object
    lambda2: object
    defaults: dict = dataclasses.field(default_factory=dict)

    def layer_values(self, k):
        l_max = max_layers(k)
        if self.num_layers == "max":
            return (l_max,)
        if self.num_layers == "all":
            return tuple(range(1, l_max + 1))
        values = tuple(v for v in self.num_layers if 1 <= v <= l_max)
        if not values:
            raise ValueError(f"--num-layers={','.join(map(str, self.num_layers))} is invalid for k={k}: "
                             f"expected values in [1, {l_max}] (L_max(k={k}))")
        return values

    def declare(self, hp):
        """Registers the space in ``hp`` (a ``keras_tuner.HyperParameters``); returns the resolved values."""
        _declare(hp, "kernel_size", self.kernel_sizes, self.defaults.get("kernel_size", 3))
        for each in sorted(set(self.kernel_sizes)):
            with hp.conditional_scope("kernel_size", [each]):
                values = self.layer_values(each)
                default = self.defaults.get("num_layers")
                _declare(hp, layers_name(each), values, default if default in values else max(values))
        _declare(hp, "width", self.widths, self.defaults.get("width", 768))
        _declare(hp, "smb_per_class", self.smb_values, self.defaults.get("smb_per_class", 250))
        for name in ("learning_rate", "lambda2"):
            value = getattr(self, name)
            _declare(hp, name, value if isinstance(value, tuple) else (float(value),), self.defaults.get(name),
                     log_range=isinstance(value, tuple))
        return resolve(hp)

    def swept(self):
        """The names of ``RESOLVED`` that take more than one value in this space."""
        found = []
        if len(set(self.kernel_sizes)) > 1:
            found.append("kernel_size")
        if any(len(self.layer_values(k)) > 1 for k in self.kernel_sizes) or (
                self.num_layers == "max" and len(set(self.kernel_sizes)) > 1):
            found.append("num_layers")
        for name, values in (("width", self.widths), ("smb_per_class", self.smb_values),
                             ("learning_rate", self.learning_rate), ("lambda2", self.lambda2)):
            if isinstance(values, tuple) and len(set(values)) > 1:
                found.append(name)
        return found


def resolve(hp):
    """``{kernel_size, num_layers, width, smb_per_class, learning_rate, lambda2}`` of a trial's active values
    (``hp``: a ``HyperParameters`` or its ``values`` dict)."""
    values = hp.values if hasattr(hp, "values") else hp
    k = values["kernel_size"]
    return {"kernel_size": k, "num_layers": values[layers_name(k)], "width": values["width"],
            "smb_per_class": values["smb_per_class"], "learning_rate": values["learning_rate"],
            "lambda2": values["lambda2"]}


def study_space(study, config, smb_per_class, learning_rate, kernel_sizes=None, num_layers=None, widths=None,
                smb_values=None, fixed_learning_rate=None, fixed_lambda2=None):
    """The ``SearchSpace`` of ``study``.

    Fig. 7 studies sweep one dimension and hold the rest at ``config`` (k, L, d, lambda2), ``smb_per_class``
    and ``learning_rate``: fig7a k in 2..5 at L = L_max(k); fig7b L in 1..L_max(3) at k = 3, d = 768
    (the defaults); fig7c d in 256..1536 step 256 at k = 3, L = 4; fig7d S in 50..400 step 50. The open
    searches (random, hyperband, bayesian) tune every dimension over the ranges of the issue.
    The keyword overrides replace a dimension's values (a quick run: e.g. ``widths=(32,)``).
    """
    if study not in STUDIES:
        raise ValueError(f"--study={study!r} is invalid: expected one of {', '.join(STUDIES)}")
    fixed = dict(kernel_sizes=(config.kernel_size,), num_layers=(config.num_layers,), widths=(config.width,),
                 smb_values=(smb_per_class,), learning_rate=float(learning_rate), lambda2=float(config.lambda2))
    sweeps = {
        "fig7a": dict(kernel_sizes=KERNEL_SIZES, num_layers="max"),
        "fig7b": dict(num_layers="all"),
        "fig7c": dict(widths=WIDTHS),
        "fig7d": dict(smb_values=SMB_VALUES[1:]),
    }
    fields = {**fixed, **sweeps[study]} if study in sweeps else dict(
        kernel_sizes=KERNEL_SIZES, num_layers="all", widths=WIDTHS, smb_values=SMB_VALUES,
        learning_rate=LEARNING_RATE_RANGE, lambda2=LAMBDA2_RANGE)
    overrides = dict(kernel_sizes=kernel_sizes, num_layers=num_layers, widths=widths, smb_values=smb_values,
                     learning_rate=fixed_learning_rate, lambda2=fixed_lambda2)
    fields.update({name: value for name, value in overrides.items() if value is not None})
    for k in fields["kernel_sizes"]:
        if k not in KERNEL_SIZES:
            raise ValueError(f"--kernel-sizes: {k} is invalid: expected values from {KERNEL_SIZES}")
    defaults = {"kernel_size": config.kernel_size, "num_layers": config.num_layers, "width": config.width,
                "smb_per_class": smb_per_class, "learning_rate": float(learning_rate), "lambda2": config.lambda2}
    space = SearchSpace(**fields, defaults=defaults)
    for k in space.kernel_sizes:
        space.layer_values(k)
    return space
