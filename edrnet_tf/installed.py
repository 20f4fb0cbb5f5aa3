"""Whether an optional part of the stack is installed, asked without importing it.

Training with the features on the device (``--data-placement device``) on the JAX backend runs where
TensorFlow is not installed (installing TensorFlow and JAX with GPU support side by side is a known pain):
the data then comes straight from the AVE ``.h5`` files (``data.release_source``), and what only
TensorFlow writes (TensorBoard logs, the SavedModel) is left out with a printed line (docs/accelerators.md).
"""

import functools
import importlib.util


@functools.cache
def tensorflow():
    """True when ``import tensorflow`` would find the package (False too when an import finder refuses it)."""
    try:
        return importlib.util.find_spec("tensorflow") is not None
    except ImportError:
        return False


NO_TENSORFLOW = "TensorFlow is not installed"
