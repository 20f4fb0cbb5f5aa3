"""Cost of ``predict --report``: the whole command on a feature set with its labels, and the page alone.

Runs ``python -m edrnet_tf.predict`` in-process on the AVE-layout files of ``--manual`` (``audio_feature.h5``,
``visual_feature.h5``, ``labels.h5``: every video of the set) twice, without and with ``--report`` (and
``--labels``), then times ``event_report.build_page`` + ``write_page`` alone at 50 (the default cap) and at
every video. Prints one JSON object: seconds, page sizes.

    python benchmarks/event_report.py --model runs/demo --manual ~/.cache/edrnet_tf/synthetic-v2-n400-s0/manual
"""

import argparse
import json
import os
import pathlib
import platform
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import h5py  # noqa: E402
import numpy as np  # noqa: E402

from edrnet_tf import predict  # noqa: E402
from edrnet_tf.serving import event_report  # noqa: E402
from edrnet_tf.training import run_folder  # noqa: E402


def timed(function):
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=pathlib.Path, required=True, help="A run folder of edrnet_tf.train.")
    parser.add_argument("--manual", type=pathlib.Path, required=True, help="Folder of the AVE-layout .h5 files.")
    args = parser.parse_args()
    folder = pathlib.Path(tempfile.mkdtemp())
    base = ["--model", str(args.model), "--audio", str(args.manual / "audio_feature.h5"),
            "--visual", str(args.manual / "visual_feature.h5"), "--output", str(folder / "events.jsonl")]
    without, _ = timed(lambda: predict.main(base))
    page_path = folder / "report.html"
    with_report, _ = timed(lambda: predict.main(base + ["--report", str(page_path),
                                                        "--labels", str(args.manual / "labels.h5")]))
    lines = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
    truth = event_report.read_labels(args.manual / "labels.h5", "avadataset", (len(lines), len(lines[0]["labels"])))
    model = run_folder.load_trained_model(args.model / "model.keras")  # the probabilities, as predict's (T = 10)
    with h5py.File(args.manual / "audio_feature.h5") as audio, h5py.File(args.manual / "visual_feature.h5") as visual:
        inputs = {"audio": np.asarray(audio["avadataset"], np.float32),
                  "visual": np.asarray(visual["avadataset"], np.float32)}
    probs = model.predict(inputs, batch_size=64, verbose=0)["probs"]
    figures = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "videos": len(lines),
               "predict_s": round(without, 2), "predict_with_report_s": round(with_report, 2),
               "report_default_bytes": page_path.stat().st_size}
    for limit in (event_report.DEFAULT_VIDEOS, len(lines)):
        seconds, page = timed(lambda: event_report.build_page(list(probs), [f"row {i}" for i in range(len(lines))],
                                                              "benchmark", truth=list(truth), limit=limit))
        write, _ = timed(lambda: event_report.write_page(folder / f"page{limit}.html", page))
        figures[f"page_{limit}_videos_s"] = round(seconds + write, 3)
        figures[f"page_{limit}_videos_bytes"] = len(page.encode())
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
