"""``python -m edrnet_tf.export --model RUN_DIR``: the SavedModel of a trained EDRNet, for TF Serving.

``python -m edrnet_tf.train`` exports ``RUN_DIR/saved_model`` itself where TensorFlow is installed; a run
trained without it (JAX, ``--data-placement device``) holds only ``model.keras``, and this command writes its
SavedModel on any machine with TensorFlow (any Keras backend: under JAX through jax2tf). The signature is
``serving.export``'s: ``audio`` [B, N, 128] and ``visual`` [B, N, 7, 7, 512] -> ``probs``, ``labels_raw`` and
``labels`` (B2ILC). The folder is written beside as a hidden ``.<output>.<pid>.partial`` and renamed when whole.

``--output`` is checked before the model is loaded: it replaces only an earlier SavedModel (or an empty
folder), anything else only with ``--overwrite``, and never the folder holding ``--model``; a model holding
a NaN or inf weight is refused (``run_folder.load_trained_model``).
"""

import pathlib

from edrnet_tf import files, installed
from edrnet_tf.cli import OneLineParser, add_overwrite_flag, check_output, run_main
from edrnet_tf.training import run_folder

PROG = "python -m edrnet_tf.export"


def build_parser():
    parser = OneLineParser(prog=PROG, description="Write the SavedModel (serving_default with B2ILC) of a trained "
                                                  "EDRNet.")
    parser.add_argument("--model", type=pathlib.Path, required=True,
                        help="A run folder of edrnet_tf.train (holding model.keras) or a .keras file.")
    parser.add_argument("--output", type=pathlib.Path, default=None,
                        help=f"The SavedModel folder to write (an earlier SavedModel there is replaced; anything else "
                             f"only with --overwrite). Default: RUN_DIR/{run_folder.EXPORT}, or "
                             f"<file>_{run_folder.EXPORT} beside a .keras file.")
    add_overwrite_flag(parser)
    return parser


def default_output(model_path):
    """``RUN_DIR/saved_model`` for a run folder, ``<stem>_saved_model`` beside a ``.keras`` file."""
    if model_path.is_dir():
        return model_path / run_folder.EXPORT
    return model_path.with_name(f"{model_path.stem}_{run_folder.EXPORT}")


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not installed.tensorflow():
        parser.error(f"{installed.NO_TENSORFLOW}: expected it for a SavedModel (pip install tensorflow), on this "
                     "or another machine; model.keras itself loads on any Keras backend")
    output = args.output or default_output(args.model)
    model, target = args.model.resolve(), output.resolve()
    if target == model or target in model.parents:
        parser.error(f"--output={str(output)!r} is invalid: expected a folder apart from --model="
                     f"{str(args.model)!r}, found {'--model itself' if target == model else 'a folder holding it'}")
    check_output(parser, output, "--output", files.SAVED_MODEL, args.overwrite)
    from edrnet_tf.serving import export  # imports TensorFlow

    model = run_folder.load_trained_model(args.model)
    output = export.write_saved_model(model, output, overwrite=args.overwrite)
    print(f"Wrote {output} (serving_default: audio [B, N, 128] and visual [B, N, 7, 7, 512] float32, "
          f"N >= {model.config.min_segments} -> probs, labels_raw, labels with B2ILC)")
    return output


if __name__ == "__main__":
    run_main(PROG, main)
