"""``--distribution``: where the model's variables live and how a batch is split across devices.

- ``mirrored``: ``tf.distribute.MirroredStrategy`` over the local GPUs (TensorFlow backend); build and
  compile the model inside ``scope()``.
- ``data_parallel``: ``keras.distribution.DataParallel`` over every JAX device (JAX backend).
- ``none``: the default device.
- ``auto``: ``mirrored`` or ``data_parallel`` when the backend sees several accelerators, else ``none``.

Several processes (hosts): ``data_parallel`` with ``KERAS_DISTRIBUTION_JOB_ADDRESSES``,
``KERAS_DISTRIBUTION_NUM_PROCESSES`` and ``KERAS_DISTRIBUTION_PROCESS_ID`` set, the variables
``keras.distribution.initialize()`` reads, checked here first (one line naming the variable). JAX's
``jax.distributed.initialize`` is called directly, as Keras' does, but with timeouts (Keras passes none:
``keras/src/backend/jax/distribution_lib.py``, ``initialize``), so a process that died stops the others
instead of leaving them waiting; on CPU the collectives are JAX's gloo ones. Every process feeds its share of
each global batch (``share``: the rows ``[i*B/P, (i+1)*B/P)`` of process i, full batches only: a global array
splits evenly over the devices), with Keras' ``auto_shard_dataset`` off (it shards ``tf.data`` only, and by
``rebatch``, which splits a short last batch unevenly). Keras' ``predict`` cannot gather outputs that span
processes, and a save on one process would make it wait for the others (``device_put`` checks that every
process passes the same value): ``Unsharded`` runs the callbacks with no distribution set, so validation
is computed whole on every process (the variables are replicated) and process 0 alone saves. TF's
``MultiWorkerMirroredStrategy`` fails with Keras 3.15 (keras-team/keras#20585).
"""

import atexit
import contextlib
import dataclasses
import errno
import os
import socket
import sys

import keras

CHOICES = ("auto", "none", "mirrored", "data_parallel")
MULTI_HOST_ENV = "KERAS_DISTRIBUTION_JOB_ADDRESSES"
NUM_PROCESSES_ENV = "KERAS_DISTRIBUTION_NUM_PROCESSES"
PROCESS_ID_ENV = "KERAS_DISTRIBUTION_PROCESS_ID"
# jax.distributed.initialize's timeouts (s): every process must have started within INITIALIZATION; a process
# whose heartbeats stop for HEARTBEAT is dead (the others stop); a process exiting waits SHUTDOWN for the others.
INITIALIZATION_TIMEOUT, HEARTBEAT_TIMEOUT, SHUTDOWN_TIMEOUT = 120, 30, 60
END_TIMEOUT = 24 * 3600  # how long the other processes wait for process 0 to write the run folder at the end


@dataclasses.dataclass
class Distribution:
    """The resolved ``--distribution``: its ``name``, the device count, the scope to build the model in and
    this process's ``process`` index of ``processes`` (several only with ``data_parallel`` across hosts)."""

    name: str
    devices: int
    strategy: object = None
    process: int = 0
    processes: int = 1

    def scope(self):
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    @property
    def writes(self):
        """Whether this process writes the run folder (process 0 only)."""
        return self.process == 0


def share():
    """``(index, count)``: this process's place among the processes that train one model (``(0, 1)`` unless
    ``data_parallel`` runs across processes). Process ``index`` feeds the rows ``[index*B/count,
    (index+1)*B/count)`` of every global batch of B videos."""
    if keras.backend.backend() != "jax":
        return 0, 1
    import jax

    return (jax.process_index(), jax.process_count()) if jax.distributed.is_initialized() else (0, 1)


def check_batch_size(batch_size, devices):
    """Raises one line when a global batch of ``batch_size`` videos cannot split evenly over ``devices``."""
    if batch_size % devices:
        raise ValueError(f"--batch-size={batch_size} is invalid: expected a multiple of the {devices} devices "
                         f"data_parallel splits every global batch over")


def multi_process_settings(environ=os.environ):
    """``(coordinator "host:port", processes, process id)`` from the ``KERAS_DISTRIBUTION_*`` variables;
    one line naming the variable when one is missing or they disagree."""
    addresses = [a.strip() for a in environ[MULTI_HOST_ENV].split(",")]
    values = {}
    for name in (NUM_PROCESSES_ENV, PROCESS_ID_ENV):
        text = environ.get(name)
        if text is None or not text.strip().isdigit():
            raise ValueError(f"{name}={text!r} is invalid: expected an integer >= 0 beside {MULTI_HOST_ENV}")
        values[name] = int(text)
    processes, process = values[NUM_PROCESSES_ENV], values[PROCESS_ID_ENV]
    if processes < 1 or (len(addresses) > 1 and processes != len(addresses)):
        raise ValueError(f"{NUM_PROCESSES_ENV}={processes} is invalid: expected the {len(addresses)} processes "
                         f"{MULTI_HOST_ENV} lists")
    if process >= processes:
        raise ValueError(f"{PROCESS_ID_ENV}={process} is invalid: expected 0 to {processes - 1} "
                         f"({NUM_PROCESSES_ENV}={processes})")
    host, _, port = addresses[0].rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"{MULTI_HOST_ENV}={environ[MULTI_HOST_ENV]!r} is invalid: expected host:port of process 0 "
                         "first (comma-separated host:port, one per process)")
    return addresses[0], processes, process


def check_port_free(coordinator):
    """Raises one line when process 0 cannot listen on the coordinator's port (another program holds it)."""
    host, _, port = coordinator.rpartition(":")
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host.strip("[]"), int(port)))
        except OSError as error:
            found = "in use" if error.errno == errno.EADDRINUSE else error.strerror
            raise ValueError(f"{MULTI_HOST_ENV}={os.environ.get(MULTI_HOST_ENV)!r} is invalid: expected a free port "
                             f"for process 0 at {coordinator}, found it {found}") from None


def initialize_processes():
    """Joins this process to the others (``jax.distributed.initialize`` with the timeouts above, gloo
    collectives on CPU); returns ``(process, processes)``. One line when the variables are wrong, the port
    is taken or the others do not come within ``INITIALIZATION_TIMEOUT``."""
    import jax

    if jax.distributed.is_initialized():  # a second run in the same processes
        return jax.process_index(), jax.process_count()
    coordinator, processes, process = multi_process_settings()
    if process == 0:
        check_port_free(coordinator)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU all-reduce across processes
    try:
        jax.distributed.initialize(coordinator, processes, process, initialization_timeout=INITIALIZATION_TIMEOUT,
                                   heartbeat_timeout_seconds=HEARTBEAT_TIMEOUT,
                                   shutdown_timeout_seconds=SHUTDOWN_TIMEOUT)
    except Exception as error:  # JaxRuntimeError: DEADLINE_EXCEEDED when the others never came
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"{NUM_PROCESSES_ENV}={processes} is invalid: expected {processes} processes to join "
                         f"process 0 at {coordinator} within {INITIALIZATION_TIMEOUT} s, found otherwise "
                         f"({first[:200]})") from None
    atexit.register(_exit_without_shutdown_barrier)  # runs before JAX's own exit handler (registered earlier)
    return process, processes


def process_zero_decides(value=None, key="edrnet_tf/train/start", timeout=INITIALIZATION_TIMEOUT):
    """Process 0's ``value`` (a string), on every process: process 0 passes it, the others wait for it.
    One process running alone returns ``value``."""
    if share()[1] == 1:
        return value
    import jax
    from jax._src import distributed  # the coordination service's key-value store (no public API in JAX 0.10)

    client = distributed.global_state.client
    if jax.process_index() == 0:
        client.key_value_set(key, value)
        return value
    return client.blocking_key_value_get(key, timeout * 1000)


def wait_for_all(name, timeout=END_TIMEOUT):
    """Every process waits here until all have come (the coordination service's barrier, not a collective:
    the others do no work while process 0 writes the run folder)."""
    if share()[1] > 1:
        from jax._src import distributed

        distributed.global_state.client.wait_at_barrier(name, timeout * 1000)


_FAILED = []  # set when this process stops on an error: it exits without JAX's shutdown barrier
# What the errors of JAX's collectives and coordination service say when another process died or stopped.
PEER_MARKERS = ("Gloo", "CoordinationService", "coordination service", "heartbeat", "UNAVAILABLE")


@contextlib.contextmanager
def peer_failure(strategy):
    """Within, when several processes train: an error makes this process exit without waiting in JAX's shutdown
    barrier (for a process that may be dead: JAX would abort after its heartbeat timeout), and an error of
    JAX's collectives or coordination service (another process died or stopped) becomes one line."""
    try:
        yield
    except Exception as error:
        if strategy.processes == 1:
            raise
        _FAILED.append(error)
        if type(error).__name__ not in ("JaxRuntimeError", "XlaRuntimeError") and not any(
                marker in str(error) for marker in PEER_MARKERS):
            raise
        first = " ".join(str(error).split())[:300]
        raise ValueError(f"process {strategy.process} of {strategy.processes}: another process stopped, so this "
                         f"one stops too ({first}); restart every process (with --backup to resume)") from None


def _exit_without_shutdown_barrier():
    if _FAILED:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)


@contextlib.contextmanager
def unset():
    """No Keras distribution within when several processes train (arrays made here stay on this process;
    see the module's docstring); nothing changes for one process."""
    if share()[1] == 1:
        yield
        return
    found = keras.distribution.distribution()
    keras.distribution.set_distribution(None)
    try:
        yield
    finally:
        keras.distribution.set_distribution(found)


class Unsharded(keras.callbacks.Callback):
    """Runs ``callback`` with no distribution set: its ``predict`` computes on the replicated variables and
    returns NumPy on every process, and what it saves it saves without the other processes."""

    def __init__(self, callback):
        super().__init__()
        self.callback = callback

    def set_params(self, params):
        self.callback.set_params(params)

    def set_model(self, model):
        super().set_model(model)
        self.callback.set_model(model)


def _unsharded(hook):
    def run(self, *args, **kwargs):
        with unset():
            getattr(self.callback, hook)(*args, **kwargs)
    run.__name__ = hook
    return run


for _hook in ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_train_batch_begin",
              "on_train_batch_end", "on_test_begin", "on_test_end", "on_test_batch_begin", "on_test_batch_end",
              "on_predict_begin", "on_predict_end", "on_predict_batch_begin", "on_predict_batch_end"):
    setattr(Unsharded, _hook, _unsharded(_hook))


class RestoreOnly(keras.callbacks.BackupAndRestore):
    """``BackupAndRestore`` that restores and never writes: the processes other than 0 load process 0's backup
    (a shared folder) when training starts, as process 0 does, and leave it to process 0 to write and
    delete (every process must assign the same values: ``device_put`` checks)."""

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_batch_end(self, batch, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass


def unsharded_callbacks(found):
    """``found`` with every callback ``Unsharded`` when several processes train (but ``ReduceLROnPlateau``,
    which assigns the optimizer's distributed learning rate on every process alike)."""
    if share()[1] == 1:
        return list(found)
    return [cb if isinstance(cb, keras.callbacks.ReduceLROnPlateau) else Unsharded(cb) for cb in found]


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
    if os.environ.get(MULTI_HOST_ENV) and name != "data_parallel":
        raise ValueError(f"--distribution={name!r} is invalid: expected 'data_parallel' (with KERAS_BACKEND=jax) "
                         f"where {MULTI_HOST_ENV} is set (several processes train one model)")
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
    process, processes = initialize_processes() if os.environ.get(MULTI_HOST_ENV) else (0, 1)
    devices = keras.distribution.list_devices()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices,
                                                                         auto_shard_dataset=processes == 1))
    return Distribution("data_parallel", len(devices), process=process, processes=processes)
