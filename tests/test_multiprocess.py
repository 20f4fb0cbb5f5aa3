"""Several processes train one model: ``python -m edrnet_tf.train --distribution data_parallel`` started once per
process with ``KERAS_BACKEND=jax`` and the ``KERAS_DISTRIBUTION_*`` variables, here two processes on the loopback
(JAX's gloo collectives on the CPU). Process 0 alone writes the run folder; the result equals one process's;
a killed process stops the other with one line and both resume with ``--backup``; wrong variables give one line.
"""

import csv
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from edrnet_tf.training import distribution

pytest.importorskip("jax")

TINY = ["--synthetic-videos", "40", "--width", "16", "--visual-width", "4", "--batch-size", "8",
        "--smb-per-class", "0", "--dropout", "0", "--input-dropout", "0", "--seed", "3", "--num-layers", "1"]
STOP_WITHIN = 120  # s: a process whose peer died must have stopped by then (JAX's heartbeat timeout is 30 s)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def environment(process=None, processes=2, port=None, **more):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KERAS_DISTRIBUTION_")}
    env.update(KERAS_BACKEND="jax", PYTHONUNBUFFERED="1")
    if process is not None:
        env.update({distribution.MULTI_HOST_ENV: f"127.0.0.1:{port},127.0.0.1:{port + 1}",
                    distribution.NUM_PROCESSES_ENV: str(processes), distribution.PROCESS_ID_ENV: str(process)})
    env.update(more)
    return env


def start(args, log, **env):
    """``python -m edrnet_tf.train *args`` in the background, stdout and stderr into the file ``log``."""
    handle = open(log, "w")
    return subprocess.Popen([sys.executable, "-m", "edrnet_tf.train", *args], stdout=handle, stderr=subprocess.STDOUT,
                            env=environment(**env))


def two_processes(tmp, args, outputs, port=None):
    """Processes 0 and 1 of one run, process i writing its log to ``tmp/p{i}.log`` and given ``--output outputs[i]``."""
    port = port or free_port()
    return [start([*args, "--output", str(outputs[i]), "--distribution", "data_parallel"], tmp / f"p{i}.log",
                  process=i, port=port) for i in (0, 1)]


def finished(process, timeout):
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


def last_line(log):
    return [line for line in log.read_text().splitlines() if line.strip()][-1]


def weights(run):
    import keras

    return [np.asarray(w) for w in keras.saving.load_model(run / "model.keras").weights]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One epoch of the tiny synthetic run (4 steps of 8 videos, dropout off) trained by two processes (each
    with its own --output: process 1's must stay unwritten) and, at the same time, by one process."""
    tmp = tmp_path_factory.mktemp("multiprocess")
    args = [*TINY, "--epochs", "1", "--cache-dir", str(tmp / "cache")]
    started = time.monotonic()
    pair = two_processes(tmp, args, [tmp / "p0" / "run", tmp / "p1" / "run"])
    one = start([*args, "--output", str(tmp / "one"), "--distribution", "none"], tmp / "one.log")
    codes = [finished(p, 900) for p in (*pair, one)]
    return tmp, codes, time.monotonic() - started


@pytest.mark.large
def test_two_processes_train_one_model_and_process_0_alone_writes_the_run_folder(runs):
    tmp, codes, _ = runs
    assert codes == [0, 0, 0], [last_line(tmp / name) for name in ("p0.log", "p1.log", "one.log")]
    run = tmp / "p0" / "run"
    assert {p.name for p in run.iterdir()} >= {"run.json", "model.keras", "history.csv", "logs", "saved_model",
                                               "metrics.json"}
    assert '"processes": 2' in (run / "run.json").read_text()
    assert not (tmp / "p1").exists()  # process 1 wrote nothing, not even its --output folder
    assert last_line(tmp / "p1.log") == f"process 1 of 2: done; process 0 wrote the run folder {tmp / 'p1' / 'run'}"


@pytest.mark.large
def test_two_processes_give_the_weights_of_one_process(runs):
    tmp, codes, _ = runs
    assert codes == [0, 0, 0]
    with (tmp / "p0" / "run" / "history.csv").open() as a, (tmp / "one" / "history.csv").open() as b:
        two, one = next(csv.DictReader(a)), next(csv.DictReader(b))
    assert float(two["loss"]) == pytest.approx(float(one["loss"]), rel=1e-5)
    found, expected = weights(tmp / "p0" / "run"), weights(tmp / "one")
    assert len(found) == len(expected)
    for a, b in zip(found, expected):  # 4 Adam steps; all-reduced partial sums differ from one sum by rounding
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.large
def test_a_killed_process_stops_the_other_with_one_line_and_both_resume_with_backup(tmp_path):
    args = [*TINY, "--epochs", "3", "--cache-dir", str(tmp_path / "cache"), "--backup"]
    output = tmp_path / "run"
    pair = two_processes(tmp_path, args, [output, output])
    history = output / "history.csv"
    deadline = time.monotonic() + 600
    while not (history.exists() and len(history.read_text().splitlines()) >= 2):  # an epoch backed up
        assert pair[0].poll() is None and time.monotonic() < deadline, last_line(tmp_path / "p0.log")
        time.sleep(0.2)
    pair[1].send_signal(signal.SIGKILL)
    killed = time.monotonic()
    assert finished(pair[0], STOP_WITHIN) == 1
    assert time.monotonic() - killed < STOP_WITHIN
    line = last_line(tmp_path / "p0.log")
    assert line.startswith("python -m edrnet_tf.train: error: process 0 of 2: another process stopped"), line
    assert not (output / "metrics.json").exists()
    done = len(history.read_text().splitlines()) - 1

    pair = two_processes(tmp_path, args, [output, output])
    assert [finished(p, 900) for p in pair] == [0, 0], last_line(tmp_path / "p0.log")
    with history.open() as handle:
        epochs = [int(row["epoch"]) for row in csv.DictReader(handle)]
    assert epochs == [0, 1, 2] and done >= 1  # resumed after the backed-up epochs, none twice
    assert (output / "metrics.json").exists() and not (output / "backup").exists()


def test_a_process_count_other_than_the_addresses_is_one_line_naming_the_variable():
    env = environment(0, processes=3, port=1234)
    with pytest.raises(ValueError, match=r"^KERAS_DISTRIBUTION_NUM_PROCESSES=3 is invalid: expected the 2 processes"):
        distribution.multi_process_settings(env)
    with pytest.raises(ValueError, match=r"^KERAS_DISTRIBUTION_PROCESS_ID=2 is invalid: expected 0 to 1"):
        distribution.multi_process_settings(environment(2, port=1234))
    with pytest.raises(ValueError, match=r"^KERAS_DISTRIBUTION_PROCESS_ID=None is invalid"):
        distribution.multi_process_settings({k: v for k, v in environment(0, port=1234).items()
                                             if k != distribution.PROCESS_ID_ENV})
    assert distribution.multi_process_settings(environment(1, port=1234)) == ("127.0.0.1:1234", 2, 1)


def test_device_placement_across_processes_is_refused_with_one_line(tmp_path):
    run = subprocess.run([sys.executable, "-m", "edrnet_tf.train", *TINY, "--output", str(tmp_path / "run"),
                          "--distribution", "data_parallel", "--data-placement", "device"],
                         capture_output=True, text=True, env=environment(0, port=free_port()), timeout=300)
    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[-1].startswith(
        "python -m edrnet_tf.train: error: --data-placement='device' is invalid: expected 'host' where "
        "KERAS_DISTRIBUTION_JOB_ADDRESSES is set")
    assert not (tmp_path / "run").exists()


def test_a_port_in_use_is_one_line_naming_the_variable(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        run = subprocess.run([sys.executable, "-m", "edrnet_tf.train", *TINY, "--output", str(tmp_path / "run"),
                              "--distribution", "data_parallel", "--cache-dir", str(tmp_path / "cache")],
                             capture_output=True, text=True, env=environment(0, port=port), timeout=300)
    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[-1] == (
        f"python -m edrnet_tf.train: error: KERAS_DISTRIBUTION_JOB_ADDRESSES='127.0.0.1:{port},127.0.0.1:{port + 1}' "
        f"is invalid: expected a free port for process 0 at 127.0.0.1:{port}, found it in use")
    assert not (tmp_path / "run").exists()


def test_the_shares_of_the_processes_make_up_every_full_global_batch_in_order():
    from edrnet_tf.training.device_data import EpochBatches

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 29, (21, 10))
    video = rng.integers(0, 28, 21)
    whole = EpochBatches(labels, video, 8, ["probs"], seed=5)
    shares = [EpochBatches(labels, video, 8, ["probs"], seed=5, share=(i, 2)) for i in (0, 1)]
    for batches in (whole, *shares):
        batches.on_epoch_begin()
    assert len(whole) == 3 and [len(s) for s in shares] == [2, 2]  # 21 videos: the short third batch is dropped
    for step in range(2):
        x, y = whole[step]
        parts = [s[step] for s in shares]
        for key in ("rows", "segments"):
            assert [len(p[0][key]) for p in parts] == [4, 4]
            np.testing.assert_array_equal(np.concatenate([p[0][key] for p in parts]), x[key])
        np.testing.assert_array_equal(np.concatenate([p[1]["probs"] for p in parts]), y["probs"])


def test_host_batches_give_each_process_its_rows():
    tf = pytest.importorskip("tensorflow")
    from edrnet_tf.training import host_data

    batches = tf.data.Dataset.from_tensor_slices({"audio": np.arange(16.0)[:, None]}).batch(8, drop_remainder=True)
    parts = [[b["audio"].numpy()[:, 0].tolist() for b in host_data._rows(batches, 8, (i, 2))] for i in (0, 1)]
    assert parts == [[[0, 1, 2, 3], [8, 9, 10, 11]], [[4, 5, 6, 7], [12, 13, 14, 15]]]
