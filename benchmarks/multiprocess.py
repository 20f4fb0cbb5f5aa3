"""Training steps per second of one process against P data-parallel processes on this machine's loopback.

Runs ``python -m edrnet_tf.train`` (``KERAS_BACKEND=jax``) once with ``--distribution none`` and once as P
processes with ``--distribution data_parallel`` and the ``KERAS_DISTRIBUTION_*`` variables (docs/scaling.md),
one after the other, with the same flags and global batch, and reads the step time Keras prints for the last
epoch (the first one compiles). On one CPU machine the P processes share its cores, so the figure is the cost
of the collectives and of the replicated validation, not a speed-up. Prints one JSON object.

    python benchmarks/multiprocess.py --processes 2 -- --synthetic-videos 120 --epochs 3 --batch-size 16 \\
        --width 16 --visual-width 4 --smb-per-class 0
"""

import argparse
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time

STEP = re.compile(r"^(\d+)/\1 - (\d+)s - ([\d.]+)(m?s)/step", re.MULTILINE)


def last_epoch_step_seconds(log):
    """Seconds per step of the last epoch line Keras printed (``N/N - Ts - Xms/step - ...``)."""
    found = STEP.findall(log)
    if not found:
        raise ValueError(f"expected Keras' epoch lines in the log, found none:\n{log[-2000:]}")
    _, _, value, unit = found[-1]
    return float(value) / (1000 if unit == "ms" else 1)


def run(args, processes, folder):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KERAS_DISTRIBUTION_")}
    env["KERAS_BACKEND"] = "jax"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started, launched = time.monotonic(), []
    for i in range(processes):
        more = {} if processes == 1 else {
            "KERAS_DISTRIBUTION_JOB_ADDRESSES": ",".join(f"127.0.0.1:{port + j}" for j in range(processes)),
            "KERAS_DISTRIBUTION_NUM_PROCESSES": str(processes), "KERAS_DISTRIBUTION_PROCESS_ID": str(i)}
        command = [sys.executable, "-m", "edrnet_tf.train", *args, "--output", os.path.join(folder, f"run{processes}"),
                   "--distribution", "none" if processes == 1 else "data_parallel"]
        launched.append(subprocess.Popen(command, env={**env, **more}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                         text=True))
    logs = [p.communicate()[0] for p in launched]
    if any(p.returncode for p in launched):
        raise SystemExit(f"a process failed:\n{logs[0][-3000:]}")
    return {"seconds_per_step": last_epoch_step_seconds(logs[0]), "wall_s": round(time.monotonic() - started, 1)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("train_args", nargs="*", help="flags of python -m edrnet_tf.train (after --)")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        args = [*options.train_args, "--cache-dir", os.path.join(folder, "cache")]
        one = run(args, 1, folder)
        many = run(args, options.processes, folder)
    print(json.dumps({"machine": f"{platform.machine()}, {os.cpu_count()} cores", "args": options.train_args,
                      "one_process": {**one, "steps_per_s": round(1 / one["seconds_per_step"], 2)},
                      f"{options.processes}_processes": {**many, "steps_per_s": round(1 / many["seconds_per_step"], 2)},
                      "date": time.strftime("%Y-%m-%d")}))


if __name__ == "__main__":
    main()
