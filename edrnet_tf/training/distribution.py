"""``--distribution``: where the model's variables live and how a batch is split across devices.

- ``mirrored``: ``tf.distribute.MirroredStrategy`` over the local GPUs (TensorFlow backend); build and
  compile the model inside ``scope()``.
- ``data_parallel``: ``keras.distribution.DataParallel`` over every JAX device (JAX backend). Multi-host runs
  call ``keras.distribution.initialize()`` first, which reads ``KERAS_DISTRIBUTION_JOB_ADDRESSES``,
  ``KERAS_DISTRIBUTION_NUM_PROCESSES`` and ``KERAS_DISTRIBUTION_PROCESS_ID`` (TF's
  ``MultiWorkerMirroredStrategy`` fails with Keras 3.15: keras-team/keras#20585).
- ``none``: the default device.
- ``auto``: ``mirrored`` or ``data_parallel`` when the backend sees several accelerators, else ``none``.
"""

import contextlib
import dataclasses
import os

import keras

CHOICES = ("auto", "none", "mirrored", "data_parallel")
MULTI_HOST_ENV = "KERAS_DISTRIBUTION_JOB_ADDRESSES"


@dataclasses.dataclass
class Distribution:
    """The resolved ``--distribution``: its ``name``, the device count and the scope to build the model in."""

    name: str
    devices: int
    strategy: object = None

    def scope(self):
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()


def accelerators():
    """Local GPU/TPU devices of the current backend."""
    if keras.backend.backend() == "jax":
        import jax

        return [d for d in jax.devices() if d.platform != "cpu"]
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.config.list_logical_devices("GPU") + tf.config.list_logical_devices("TPU")
    return []


def resolve(name):
    """Sets up ``--distribution name``; a choice the backend cannot do raises one clear ValueError."""
    if name not in CHOICES:
        raise ValueError(f"--distribution={name!r} is invalid: expected one of {CHOICES}")
    backend = keras.backend.backend()
    if name == "auto":
        many = len(accelerators()) > 1
        name = {("tensorflow", True): "mirrored", ("jax", True): "data_parallel"}.get((backend, many), "none")
    if name == "none":
        return Distribution("none", 1)
    if name == "mirrored":
        if backend != "tensorflow":
            raise ValueError(f"--distribution=mirrored needs KERAS_BACKEND=tensorflow, found {backend!r} "
                             "(use data_parallel on JAX)")
        import tensorflow as tf

        strategy = tf.distribute.MirroredStrategy()
        return Distribution("mirrored", strategy.num_replicas_in_sync, strategy)
    if backend != "jax":
        raise ValueError(f"--distribution=data_parallel needs KERAS_BACKEND=jax, found {backend!r} "
                         "(use mirrored on TensorFlow)")
    if os.environ.get(MULTI_HOST_ENV):
        keras.distribution.initialize()
    devices = keras.distribution.list_devices()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    return Distribution("data_parallel", len(devices))
