"""Command-line flags of training: argv -> (``EDRNetConfig``, ``TrainSettings``), for ``python -m
edrnet_tf.train`` and (its data and optimisation groups, and ``settings_from_args``) ``python -m tuning.sweep``.

Every ``EDRNetConfig`` field gets its own flag (``--kernel-size``, ``--num-layers``, ...), documented from
the dataclass' own ``Attributes:`` docstring; a flag left out takes its per-dataset default from
``edrnet_tf.config``, the one place defaults live. A bad value exits with one line naming the flag, what
was expected and what was found.
"""

import argparse
import dataclasses
import datetime
import pathlib
import re

from edrnet_tf import installed
from edrnet_tf.cli import (OneLineParser, default_cache_dir, default_tfds_dir, finite_float, folder_path,
                           non_negative_int, positive_float, positive_int)
from edrnet_tf.config import (DATA_PLACEMENTS, DATASETS, LR_SCALINGS, MODEL_DEFAULTS, PRECISIONS, TRAINING_DEFAULTS,
                              EDRNetConfig, TrainSettings, model_config)
from edrnet_tf.data.smb_states import SEQUENCE_RULES
from edrnet_tf.training import distribution, run_folder

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine", "plateau")

DATA_FLAGS = ("dataset", "data_dir", "manual_dir", "cache_dir", "synthetic_videos", "synthetic_seed", "test_labels",
              "batch_size")


def fail(parser, flag, value, expected):
    parser.error(f"{flag}={value!r} is invalid: expected {expected}")


def flag_name(field):
    return "--" + field.replace("_", "-")


def config_field_help():
    """``{field: help}`` read from the ``Attributes:`` section of ``EDRNetConfig``'s docstring."""
    doc = EDRNetConfig.__doc__.split("Attributes:", 1)[1]
    helps, field = {}, None
    for line in doc.splitlines():
        match = re.match(r"\s+(\w+): (.*)", line)
        if match and match.group(1) in {f.name for f in dataclasses.fields(EDRNetConfig)}:
            field = match.group(1)
            helps[field] = match.group(2).strip()
        elif field and line.strip():
            helps[field] += " " + line.strip()
    return helps


def demo_default(name):
    """The help text of a per-dataset default: "X" or "X for ave, Y for synthetic"."""
    ave_value, synthetic_value = TRAINING_DEFAULTS["ave"][name], TRAINING_DEFAULTS["synthetic"][name]
    if ave_value == synthetic_value:
        return f"Default: {ave_value}."
    return f"Default: {ave_value} for ave, {synthetic_value} for synthetic (the CPU demo)."


def branch_list(text):
    return tuple(b.strip() for b in text.split(",") if b.strip())


def add_data_flags(parser, of_model=False):
    """The flags that say where the data comes from; ``of_model``: they default to the run of ``--model``
    (``model_run_settings``)."""
    group = parser.add_argument_group("data" + (" (default: the --model run's)" if of_model else ""))
    group.add_argument("--dataset", choices=DATASETS, default="synthetic",
                       help="'synthetic': the embedded synthetic AVE-layout set, generated into --cache-dir and "
                            "built with the tfds_ave builder on first use (no download; figures are synthetic). "
                            "'ave': the real AVE features, built with `tfds build tfds_ave` into --data-dir "
                            "(or pass --manual-dir to build it here). Default: %(default)s.")
    group.add_argument("--data-dir", type=pathlib.Path, default=None,
                       help="TFDS data_dir holding the built tfds_ave (--dataset ave). "
                            f"Default: $TFDS_DATA_DIR or {default_tfds_dir()}.")
    group.add_argument("--manual-dir", type=pathlib.Path, default=None,
                       help="Folder holding the AVE HDF5 files; with --dataset ave, builds tfds_ave from it "
                            "into --data-dir when it is not built yet.")
    group.add_argument("--cache-dir", type=folder_path, default=default_cache_dir(),
                       help="Where --dataset synthetic keeps its generated files and built TFDS data. "
                            "Default: %(default)s.")
    group.add_argument("--synthetic-videos", type=positive_int, default=None,
                       help="Videos in the synthetic set (split like AVE, ~80/10/10). "
                            f"Default: {TRAINING_DEFAULTS['synthetic']['synthetic_videos']} (the CPU demo).")
    group.add_argument("--synthetic-seed", type=non_negative_int, default=TrainSettings.synthetic_seed,
                       help="Seed of the synthetic data generator. Default: %(default)s.")
    group.add_argument("--test-labels", choices=("original", "corrected"), default=TrainSettings.test_labels,
                       help="Test labels of the headline figure: 'original' (O-AVE) or 'corrected' (C-AVE, "
                            "needs right_labels.h5). Both are reported whenever both exist. Default: %(default)s.")
    group.add_argument("--batch-size", type=positive_int, default=None,
                       help="Videos per batch (split across devices under a distribution). "
                            + demo_default("batch_size"))
    if of_model:
        parser.set_defaults(**{name: None for name in DATA_FLAGS})
    return group


def build_train_parser():
    parser = OneLineParser(
        prog="python -m edrnet_tf.train",
        description="Train EDRNet (Rao et al., AAAI 2022) for supervised (sel) or weakly supervised (wsel) "
                    "audio-visual event localization, evaluate it on the test split and export it.",
    )
    add_data_flags(parser)
    add_task_flags(parser)
    add_model_flags(parser)
    add_optimisation_flags(parser)
    add_run_flags(parser)
    return parser


def add_task_flags(parser):
    task = parser.add_argument_group("task and augmentation")
    task.add_argument("--task", choices=("sel", "wsel"), default="sel",
                      help="'sel': segment labels, cross entropy + lambda2 * Land-Shore-Sea loss (Eqs. 8-10). "
                           "'wsel': video labels only (plus the background-only videos), MIL pooling (Eq. 7). "
                           "Default: %(default)s.")
    task.add_argument("--smb-per-class", type=non_negative_int, default=None, metavar="S",
                      help="SMB video fusion: S fused training videos per class, a fresh set every epoch "
                           "(0 = off; sel only; 250 is the paper's). " + demo_default("smb_per_class"))
    add_smb_sequences_flag(task)


def add_smb_sequences_flag(group):
    group.add_argument("--smb-sequences", choices=SEQUENCE_RULES, default=None,
                       help="How SMB weights the state machine's sequences: 'machine', each step uniform among the "
                            "allowed states (our reading of Fig. 4); 'labels', label patterns as frequent as in the "
                            "class's training videos (docs/smb.md). Default: machine.")


def add_model_flags(parser):
    model = parser.add_argument_group("model (EDRNetConfig; defaults are the paper's k=3, L=4, d=768)")
    helps = config_field_help()
    for field in dataclasses.fields(EDRNetConfig):
        demo = MODEL_DEFAULTS["synthetic"].get(field.name)
        shown = f"{field.default!r}" + ("" if demo is None else f" ({demo!r} for synthetic, the CPU demo)")
        kwargs = {"default": None, "dest": field.name,
                  "help": f"{helps.get(field.name, field.name)} Default: {shown}."}
        if field.name == "branches":
            kwargs.update(type=branch_list, metavar="A,V,AV",
                          help=f"{helps['branches']} Comma-separated. Default: A,V,AV.")
        elif isinstance(field.default, bool):
            kwargs["action"] = argparse.BooleanOptionalAction
        elif isinstance(field.default, int):
            kwargs["type"] = int
        else:
            kwargs["type"] = finite_float
        model.add_argument(flag_name(field.name), **kwargs)


def add_optimisation_flags(parser):
    opt = parser.add_argument_group("optimisation")
    opt.add_argument("--epochs", type=positive_int, default=None,
                     help="Maximum epochs (early stopping may end sooner). " + demo_default("epochs"))
    opt.add_argument("--optimizer", choices=OPTIMIZERS, default=None,
                     help="Optimiser (sgd: momentum 0.9, Nesterov). " + demo_default("optimizer"))
    opt.add_argument("--learning-rate", type=positive_float, default=None,
                     help="Initial learning rate. " + demo_default("learning_rate"))
    opt.add_argument("--lr-schedule", choices=SCHEDULES, default=None,
                     help="'constant'; 'cosine': cosine decay to 0 over --epochs; 'plateau': divide by 10 after "
                          "--plateau-patience epochs without a better validation accuracy. "
                          + demo_default("lr_schedule"))
    opt.add_argument("--lr-scaling", choices=tuple(LR_SCALINGS), default=None,
                     help="Scale --learning-rate (given for the dataset's default --batch-size) to --batch-size: "
                          "'sqrt' by the square root of the ratio, 'linear' by the ratio (large batches, "
                          "docs/accelerators.md). Default: none.")
    opt.add_argument("--warmup-epochs", type=non_negative_int, default=None,
                     help="Linear learning-rate warm-up from 0 over this many epochs (constant or cosine schedule). "
                          + demo_default("warmup_epochs"))
    opt.add_argument("--weight-decay", type=finite_float, default=None,
                     help="Decoupled weight decay (adamw only). " + demo_default("weight_decay"))
    opt.add_argument("--early-stopping", type=non_negative_int, default=None, metavar="PATIENCE",
                     help="Stop after PATIENCE epochs without a better validation accuracy (0 = never). "
                          + demo_default("early_stopping"))
    opt.add_argument("--plateau-patience", type=positive_int, default=TrainSettings.plateau_patience,
                     help="Patience of --lr-schedule plateau. Default: %(default)s.")
    opt.add_argument("--seed", type=non_negative_int, default=TrainSettings.seed,
                     help="Seed of weights, shuffling, dropout and SMB sampling. Default: %(default)s.")
    opt.add_argument("--data-placement", choices=DATA_PLACEMENTS, default=None,
                     help="'host': tf.data batches copied from host memory every step; 'device': the training "
                          "features held once on the accelerator and each step gathers its videos (and SMB fused "
                          "videos) by index inside the compiled step (docs/accelerators.md). "
                          f"Default: {TrainSettings.data_placement}.")
    opt.add_argument("--mixed-precision", choices=PRECISIONS, default=None,
                     help="'bfloat16': Keras' mixed_bfloat16 policy (bfloat16 compute, float32 weights, head and "
                          f"losses). Default: {TrainSettings.mixed_precision}.")
    opt.add_argument("--jit-compile", action=argparse.BooleanOptionalAction, default=None,
                     help="Compile the train step with XLA (works on CPU when asked explicitly): 1.3x faster "
                          "steps, but compiling costs more than it saves in the short demo. "
                          + demo_default("jit_compile"))


def add_run_flags(parser):
    run = parser.add_argument_group("run")
    run.add_argument("--output", type=folder_path, default=None,
                     help="Run folder: model.keras (best on validation), saved_model/, metrics.json, run.json, "
                          "logs/ (TensorBoard). Default: runs/<dataset>-<task>-<date-time>.")
    run.add_argument("--distribution", choices=distribution.CHOICES, default=TrainSettings.distribution,
                     help="'mirrored': tf.distribute.MirroredStrategy over the local GPUs (TensorFlow backend); "
                          "'data_parallel': keras.distribution.DataParallel (JAX backend; multi-host after "
                          "keras.distribution.initialize()); 'none'; 'auto' picks mirrored/data_parallel when "
                          "the backend sees several accelerators, else none. Default: %(default)s.")
    run.add_argument("--backup", action="store_true",
                     help="Back up model and optimiser state to OUTPUT/backup after every epoch and resume from "
                          "it: rerun a killed run with the same flags (and --output) to continue at its last "
                          "finished epoch.")
    run.add_argument("--tensorboard-per-class", type=non_negative_int, default=TrainSettings.per_class_every, metavar="EPOCHS",
                     help="Log per-class validation accuracy and the confusion-matrix image every EPOCHS epochs "
                          "(0 = only at the end). Default: %(default)s.")


def model_run_settings(parser, args):
    """``(model path, TrainSettings)`` of ``--model``: its run's settings (``run.json``) with the data flags
    given here applied; a bare ``.keras`` file takes the data flags, else the synthetic demo's data."""
    run_dir = args.model if args.model.is_dir() else args.model.parent
    model_path = args.model / "model.keras" if args.model.is_dir() else args.model
    if not model_path.exists():
        fail(parser, "--model", str(args.model), "a run folder holding model.keras, or a .keras file")
    given = {name: getattr(args, name) for name in DATA_FLAGS if getattr(args, name) is not None}
    if (run_dir / run_folder.RUN).exists():
        settings = run_folder.load_run(run_dir, what=f"--model={str(run_dir)!r} is invalid")[1]
    else:
        settings = TrainSettings.for_dataset(given.get("dataset", "synthetic"), cache_dir=default_cache_dir())
    if given.get("dataset") == "ave" and "data_dir" not in given and settings.dataset != "ave":
        given["data_dir"] = default_tfds_dir()
    if given.get("dataset", settings.dataset) == "synthetic" and settings.synthetic_videos is None:
        given.setdefault("synthetic_videos", TRAINING_DEFAULTS["synthetic"]["synthetic_videos"])
    return model_path, settings.replace(**given)


def parse_train_args(argv=None, prog=None):
    """Parses ``argv`` into ``(EDRNetConfig, TrainSettings)``; a bad value exits with one line naming its flag
    (and ``prog``, the command whose flags these are; default: ``python -m edrnet_tf.train``)."""
    parser = build_train_parser()
    parser.prog = prog or parser.prog
    args = parser.parse_args(argv)
    config = config_from_args(parser, args)
    if args.task == "wsel" and args.smb_per_class:
        fail(parser, "--smb-per-class", args.smb_per_class, "0 with --task wsel (SMB fusion needs segment labels)")
    output = args.output or pathlib.Path("runs") / (
        f"{args.dataset}-{args.task}-{datetime.datetime.now().strftime('%Y%m%d-%H%M%S')}")
    if output.is_dir() and any(output.iterdir()) and not args.backup:
        fail(parser, "--output", str(output), "an empty or new folder (pass --backup to resume the run there)")
    settings = settings_from_args(
        parser, args, task=args.task, smb_per_class=0 if args.task == "wsel" else args.smb_per_class,
        output=output, distribution=args.distribution, backup=args.backup, per_class_every=args.tensorboard_per_class)
    return config, settings


def settings_from_args(parser, args, **changes):
    """The ``TrainSettings`` of the data and optimisation flags of ``args`` (a flag left out takes its
    ``--dataset`` default), with ``changes`` (a value None: the dataset default) applied; a bad combination
    exits with one line naming its flag. ``train`` and ``tuning.sweep`` both build their settings here."""
    given = {name: getattr(args, name, None) for name in (
        "synthetic_videos", "batch_size", "epochs", "optimizer", "learning_rate", "lr_schedule", "lr_scaling",
        "warmup_epochs", "weight_decay", "early_stopping", "jit_compile", "plateau_patience", "seed", "data_placement",
        "mixed_precision", "smb_sequences")}
    given.update(changes)
    settings = TrainSettings.for_dataset(args.dataset, **{k: v for k, v in given.items() if v is not None})
    if args.dataset == "synthetic" and args.manual_dir is not None:
        fail(parser, "--manual-dir", str(args.manual_dir), "no --manual-dir with --dataset synthetic")
    if args.dataset == "ave" and args.synthetic_videos is not None:
        fail(parser, "--synthetic-videos", args.synthetic_videos, "no --synthetic-videos with --dataset ave")
    if settings.warmup_epochs and settings.lr_schedule == "plateau":
        fail(parser, "--warmup-epochs", settings.warmup_epochs, "0 with --lr-schedule plateau (it lowers a constant rate)")
    if settings.warmup_epochs >= settings.epochs:
        fail(parser, "--warmup-epochs", settings.warmup_epochs, f"fewer than --epochs={settings.epochs}")
    if settings.weight_decay < 0:
        fail(parser, "--weight-decay", settings.weight_decay, "a value >= 0")
    if not installed.tensorflow():  # docs/accelerators.md#without-tensorflow
        if settings.data_placement == "host":
            fail(parser, "--data-placement", "host", f"device where {installed.NO_TENSORFLOW} (host placement feeds "
                                                     "tf.data)")
        if args.dataset == "ave" and args.manual_dir is None:
            fail(parser, "--manual-dir", None, f"the folder of the AVE .h5 files where {installed.NO_TENSORFLOW} "
                                               "(a built tfds_ave needs TensorFlow to read)")
    if settings.data_placement == "device" and settings.backup:
        fail(parser, "--backup", True, "no --backup with --data-placement device (each backup would copy the "
                                       "resident feature table)")
    if settings.weight_decay and settings.optimizer != "adamw":
        fail(parser, "--weight-decay", settings.weight_decay, "to be used with --optimizer adamw")
    return settings.replace(
        data_dir=args.data_dir or (default_tfds_dir() if args.dataset == "ave" else None),
        manual_dir=args.manual_dir, cache_dir=args.cache_dir, synthetic_seed=args.synthetic_seed,
        test_labels=args.test_labels)


def config_from_args(parser, args):
    """The ``EDRNetConfig`` of the model flags; an invalid value exits naming its flag (e.g. L > L_max)."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(EDRNetConfig)
             if getattr(args, f.name) is not None}
    try:
        return model_config(args.dataset, **given)
    except ValueError as error:
        message = str(error)
        for field in dataclasses.fields(EDRNetConfig):
            message = message.replace(f"EDRNetConfig.{field.name}=", f"{flag_name(field.name)}=")
        parser.error(message)
