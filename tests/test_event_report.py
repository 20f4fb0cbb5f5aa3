"""The event report page (``edrnet_tf.serving.event_report``): its spans, errors and summary against the
predictions recomputed in NumPy, the cap and worst-first order, the ``--report`` flags of predict and
evaluate, the thumbnails, and the page rendered by headless Chromium when it is installed."""

import base64
import html.parser
import io
import json
import os
import shutil
import subprocess

import h5py
import numpy as np
import pytest
from test_export import b2ilc_reference

from edrnet_tf import EDRNet, EDRNetConfig, ave, evaluate, files, predict
from edrnet_tf.cli import run_main
from edrnet_tf.data import pipeline
from edrnet_tf.serving import event_report

NAMES = ave.class_names()
BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser")
BROWSER_FLAGS = ["--headless", "--no-sandbox", "--enable-unsafe-swiftshader", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update", "--no-first-run"]


class Page(html.parser.HTMLParser):
    """The page's video sections in order: name, spans per row, error seconds, heat-strip classes."""

    def __init__(self, text):
        super().__init__()
        self.videos, self.ids, self.summary, self._cell = [], set(), [], None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.ids.add(attrs.get("id"))
        if tag == "section" and attrs.get("class") == "video":
            self.videos.append({"index": int(attrs["data-index"]), "name": attrs["data-name"], "spans": {},
                                "errors": [], "heat": [], "thumbs": 0})
        elif tag == "g" and attrs.get("class") == "span":
            self.videos[-1]["spans"].setdefault(attrs["data-row"], []).append(
                (attrs["data-class"], int(attrs["data-start"]), int(attrs["data-end"])))
        elif tag == "rect" and attrs.get("class") == "error":
            self.videos[-1]["errors"].append(int(attrs["data-second"]))
        elif tag == "rect" and attrs.get("class") == "heat" and attrs["data-class"] not in self.videos[-1]["heat"]:
            self.videos[-1]["heat"].append(attrs["data-class"])
        elif tag == "image" and attrs.get("class") == "thumb":
            self.videos[-1]["thumbs"] += 1
        elif tag in ("th", "td") and self._cell is None:
            self._cell = tag

    def handle_data(self, data):
        if self._cell:
            self.summary.append(data)
            self._cell = None


def spans_of(labels):
    """(class name, start, end) of each maximal run of one label: a plain loop, not the module's ``runs``."""
    found = []
    for t, label in enumerate(labels):
        if found and found[-1][0] == NAMES[label] and found[-1][2] == t:
            found[-1] = (found[-1][0], found[-1][1], t + 1)
        else:
            found.append((NAMES[label], t, t + 1))
    return found


def predictions(lengths, seed=0):
    """Random probabilities [T, 29] per video, peaked so B2ILC has runs to correct, and random truths."""
    rng = np.random.default_rng(seed)
    probs, truth = [], []
    for length in lengths:
        logits = rng.normal(size=(length, 29))
        logits[np.arange(length), rng.choice([3, 5, 28], size=length)] += 3.0
        probs.append((np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)).astype(np.float32))
        truth.append(rng.choice([3, 5, 7, 28], size=length))
    return probs, truth


def test_page_draws_the_b2ilc_spans_errors_and_top_classes_of_every_video():
    probs, truth = predictions([10, 10, 25, 12])
    page = Page(event_report.build_page(probs, [f"v{i}" for i in range(4)], "t", truth=truth, limit=10))
    assert {"summary", "legend", "videos"} <= page.ids
    assert sorted(v["index"] for v in page.videos) == [0, 1, 2, 3]
    for video in page.videos:
        i = video["index"]
        served = b2ilc_reference(probs[i].argmax(-1)[None])[0]
        assert video["spans"]["predicted"] == spans_of(served)
        assert video["spans"]["truth"] == spans_of(truth[i])
        assert video["errors"] == np.flatnonzero(served != truth[i]).tolist()
        peaks = probs[i].max(0)
        assert video["heat"] == [NAMES[c] for c in np.argsort(-peaks, kind="stable")[:3]]
    served = [b2ilc_reference(p.argmax(-1)[None])[0] for p in probs]
    accuracy = np.mean(np.concatenate([s == t for s, t in zip(served, truth)]))
    summary = dict(zip(page.summary[0::2], page.summary[1::2]))
    assert summary["segment accuracy, gated head + B2ILC"] == f"{accuracy:.4f}"
    assert summary["segments (seconds)"] == str(10 + 10 + 25 + 12)


def test_page_caps_the_videos_and_draws_the_worst_first_when_the_truth_is_known():
    probs, truth = predictions([10] * 9, seed=1)
    served = [b2ilc_reference(p.argmax(-1)[None])[0] for p in probs]
    truth = [s.copy() for s in served]
    for i, wrong in enumerate([3, 0, 7, 3, 1, 9, 0, 5, 2]):  # video i gets `wrong` seconds wrong
        truth[i][:wrong] = (truth[i][:wrong] + 1) % 29
    page = Page(event_report.build_page(probs, [f"v{i}" for i in range(9)], "t", truth=truth, limit=4))
    assert [v["index"] for v in page.videos] == [5, 2, 7, 0]  # 9, 7, 5, then the first of the two with 3 wrong
    summary = dict(zip(page.summary[0::2], page.summary[1::2]))
    assert summary["videos"].startswith("9 (4 drawn")


def test_page_without_truth_keeps_the_input_order_and_draws_no_truth_row():
    probs, _ = predictions([10] * 6, seed=2)
    page = Page(event_report.build_page(probs, [f"v{i}" for i in range(6)], "t", limit=3))
    assert [v["index"] for v in page.videos] == [0, 1, 2]
    assert all(set(v["spans"]) == {"predicted"} and not v["errors"] for v in page.videos)


def test_thumbnails_are_one_small_jpeg_per_second_and_only_decoded_for_the_videos_drawn(tmp_path):
    from PIL import Image

    from edrnet_tf.extraction import synthetic_video

    path = tmp_path / "clip.mp4"
    synthetic_video.write_video(path, seconds=3.0, fps=10, size=(64, 48))
    uris = event_report.thumbnail_uris(path, 3)
    assert len(uris) == 3 and all(u.startswith("data:image/jpeg;base64,") for u in uris)
    image = Image.open(io.BytesIO(base64.b64decode(uris[1].split(",", 1)[1])))
    assert image.size == (72, event_report.THUMB_HEIGHT)  # 64x48 scaled to 54 px high, even width
    asked = []
    probs, _ = predictions([3, 3, 3])
    page = Page(event_report.build_page(probs, ["a", "b", "c"], "t", limit=2,
                                        thumbnails=lambda i: asked.append(i) or uris))
    assert asked == [0, 1] and [v["thumbs"] for v in page.videos] == [3, 3]


@pytest.mark.large
def test_predict_video_report_draws_a_thumbnail_per_second_beside_the_served_labels(tmp_path):
    from edrnet_tf.extraction import synthetic_video

    clip = synthetic_video.write_video(tmp_path / "clip.mp4", seconds=3.0)
    model = tmp_path / "model.keras"
    EDRNet(EDRNetConfig(width=16, visual_width=8, num_layers=1)).save(model)  # windows of >= 3 s
    run_main(predict.PROG, predict.main, ["--model", str(model), "--video", str(clip), "--output",
                                          str(tmp_path / "events.jsonl"), "--report", str(tmp_path / "r.html"),
                                          "--random-weights", "--frames-per-segment", "2"])
    line = json.loads((tmp_path / "events.jsonl").read_text())
    (video,) = Page((tmp_path / "r.html").read_text()).videos
    assert video["name"] == str(clip) and video["thumbs"] == 3
    assert video["spans"] == {"predicted": spans_of(line["labels"])}


def test_a_page_of_50_ten_second_videos_stays_small():
    probs, truth = predictions([10] * 400, seed=3)
    page = event_report.build_page(probs, [str(i) for i in range(400)], "t", truth=truth)
    assert len(Page(page).videos) == event_report.DEFAULT_VIDEOS
    assert len(page.encode()) < 1_000_000


@pytest.fixture(scope="module")
def model_and_files(tmp_path_factory):
    """A tiny model and 4 videos of 12 s: features and AVE-layout one-hot labels."""
    folder = tmp_path_factory.mktemp("report")
    EDRNet(EDRNetConfig(width=16, visual_width=8)).save(folder / "model.keras")
    rng = np.random.default_rng(4)
    truth = rng.choice([3, 28], size=(4, 12))
    with h5py.File(folder / "audio.h5", "w") as f:
        f.create_dataset("avadataset", data=rng.normal(size=(4, 12, 128)))
    with h5py.File(folder / "visual.h5", "w") as f:
        f.create_dataset("avadataset", data=rng.uniform(size=(4, 12, 7, 7, 512)))
    with h5py.File(folder / "labels.h5", "w") as f:
        f.create_dataset("avadataset", data=np.eye(29)[truth])
    return folder, truth


def predict_argv(folder, *more):
    return ["--model", str(folder), "--audio", str(folder / "audio.h5"), "--visual", str(folder / "visual.h5"),
            "--output", str(folder / "events.jsonl"), *more]


def test_predict_report_shows_the_served_labels_against_the_labels_file(model_and_files):
    folder, truth = model_and_files
    run_main(predict.PROG, predict.main, predict_argv(folder, "--rows", "3,1,2", "--report",
                                                      str(folder / "report.html"), "--labels",
                                                      str(folder / "labels.h5")))
    lines = {line["row"]: line for line in map(json.loads, (folder / "events.jsonl").read_text().splitlines())}
    page = Page((folder / "report.html").read_text())
    assert sorted(v["name"] for v in page.videos) == ["row 1", "row 2", "row 3"]
    for video in page.videos:
        row = int(video["name"].split()[1])
        assert video["spans"]["predicted"] == spans_of(lines[row]["labels"])
        assert video["spans"]["truth"] == spans_of(truth[row])
    wrong = [int(np.sum(np.array(lines[r]["labels"]) != truth[r])) for r in (3, 1, 2)]
    worst_first = [(3, 1, 2)[i] for i in np.argsort(-np.array(wrong), kind="stable")]
    assert [int(v["name"].split()[1]) for v in page.videos] == worst_first
    assert not list(folder.glob(".*partial"))


@pytest.mark.parametrize("report,labels,flag", [
    ("{tmp}", None, "--report"),  # a folder
    ("{tmp}/no_such_folder/report.html", None, "--report"),
    ("{tmp}/report.html", "{folder}/audio.h5", "--labels"),  # [M, T, 128]: not labels
    ("{tmp}/report.html", "{tmp}/missing.h5", "--labels"),
])
def test_bad_report_flags_exit_with_one_line_and_write_nothing(model_and_files, tmp_path, capsys, report, labels,
                                                              flag):
    folder = model_and_files[0]
    fill = lambda text: text.format(tmp=tmp_path, folder=folder)  # noqa: E731
    argv = ["--model", str(folder), "--audio", str(folder / "audio.h5"), "--visual", str(folder / "visual.h5"),
            "--output", str(tmp_path / "events.jsonl"), "--report", fill(report)]
    with pytest.raises(SystemExit) as exit_info:
        run_main(predict.PROG, predict.main, argv + (["--labels", fill(labels)] if labels else []))
    message = exit_info.value.code if isinstance(exit_info.value.code, str) else capsys.readouterr().err.strip()
    assert "\n" not in message.strip() and f"{flag}=" in message
    assert list(tmp_path.iterdir()) == []


def test_report_replaces_only_a_page_edrnet_tf_wrote(model_and_files, tmp_path, capsys):
    folder = model_and_files[0]
    page = tmp_path / "page.html"
    page.write_text("<!DOCTYPE html><html><body>my page</body></html>\n")
    argv = predict_argv(folder, "--rows", "0", "--report", str(page))
    argv[argv.index("--output") + 1] = str(tmp_path / "events.jsonl")
    with pytest.raises(SystemExit):
        run_main(predict.PROG, predict.main, argv)
    assert "--report=" in capsys.readouterr().err and "my page" in page.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page.html"]
    run_main(predict.PROG, predict.main, argv + ["--overwrite"])
    run_main(predict.PROG, predict.main, argv)  # its own page is replaced without --overwrite
    assert page.read_text().startswith(files.EVENT_REPORT_MARK)


def test_evaluate_report_draws_the_test_split_worst_first(built_ave, tmp_path):
    model = EDRNet(EDRNetConfig(width=16, visual_width=8))
    model.save(tmp_path / "tiny.keras")
    run_main(evaluate.PROG, evaluate.main, ["--model", str(tmp_path / "tiny.keras"), "--dataset", "ave",
                                            "--data-dir", str(built_ave), "--report", str(tmp_path / "r.html"),
                                            "--report-videos", "5"])
    test = pipeline.split_arrays(built_ave, "test")
    served = b2ilc_reference(model.predict({"audio": test["audio"], "visual": test["visual"]},
                                           verbose=0)["probs"].argmax(-1))
    right = (served == test["segment_labels"]).mean(-1)
    page = Page((tmp_path / "r.html").read_text())
    assert [v["index"] for v in page.videos] == np.argsort(right, kind="stable")[:5].tolist()
    for video in page.videos:
        assert video["spans"]["truth"] == spans_of(test["segment_labels"][video["index"]])
        assert video["spans"]["predicted"] == spans_of(served[video["index"]])


def browser():
    return next((shutil.which(name) for name in BROWSERS if shutil.which(name)), None)


def render(path, tmp_path):
    """(DOM, stderr) of headless Chromium opening ``path`` from disk, console messages logged to stderr."""
    done = subprocess.run([browser(), *BROWSER_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                           "--enable-logging=stderr", "--v=0", "--dump-dom", path.resolve().as_uri()],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, done.stderr


def console_errors(stderr):
    return [line for line in stderr.splitlines() if "Uncaught" in line or ("CONSOLE" in line and "rror" in line)]


def test_headless_chromium_renders_the_page_with_its_videos_and_no_console_errors(tmp_path):
    if browser() is None:
        reason = f"no headless Chromium ({', '.join(BROWSERS)}) on PATH: apt-get install chromium-headless-shell"
        print(reason)
        pytest.skip(reason)
    probs, truth = predictions([10, 25, 10], seed=5)
    path = tmp_path / "report.html"
    event_report.write_page(path, event_report.build_page(probs, ["a", "b", "c"], "t", truth=truth))
    dom, stderr = render(path, tmp_path)
    page = Page(dom)
    assert {"summary", "legend", "videos"} <= page.ids
    assert sorted(v["name"] for v in page.videos) == ["a", "b", "c"]
    assert dom.count('<svg class="timeline"') == 3
    assert all(v["spans"]["predicted"] and v["spans"]["truth"] for v in page.videos)
    assert console_errors(stderr) == []
    # The check sees an error when there is one: the same page with a failing script.
    broken = tmp_path / "broken.html"
    broken.write_text(path.read_text().replace("</body>", "<script>undefinedFunction()</script></body>"))
    assert console_errors(render(broken, tmp_path)[1])



def test_evaluate_checks_the_report_path_before_reading_anything(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:  # no model either: --report is checked first
        run_main(evaluate.PROG, evaluate.main, ["--model", str(tmp_path / "none"), "--report",
                                                str(tmp_path / "missing" / "r.html")])
    error = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and "\n" not in error and "--report=" in error and "missing" in error
    assert list(tmp_path.iterdir()) == []
