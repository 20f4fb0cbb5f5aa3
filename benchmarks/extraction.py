"""Cost of a video's features on this machine: decoding, VGGish, VGG-19, and the EDRNet forward pass.

Writes a synthetic video (``edrnet_tf.extraction.synthetic_video``: 25 fps, 44.1 kHz stereo AAC) and
times each stage on it, best of ``--repeats`` (the first run of a stage also traces its shapes). The
networks are randomly initialised (``weights=None``): the cost of a forward pass does not depend on the
weight values, and nothing is downloaded. Prints one JSON object.

    nice -n 5 python benchmarks/extraction.py                  # a 10-s AVE-length video, 16 frames/s
    python benchmarks/extraction.py --seconds 9 --frames-per-segment 2  # a quick check
    python benchmarks/extraction.py --frame-rule centre         # FFmpeg-scaled frames at t + (k + 0.5)/16 s

``decode_s`` is the audio (per-second resampling) and the frames of the rule: for ``ave`` a counting pass
over every frame, then each picked frame full-size to RGB and resized in NumPy (``resize.resize_linear``).

The default EDRNet reads windows of at least L*(k-1)+1 = 9 segments, hence ``--seconds`` >= 9.
"""

import argparse
import json
import os
import pathlib
import tempfile
import time

from edrnet_tf import EDRNet, EDRNetConfig
from edrnet_tf.extraction import FeatureExtractor, decode, visual
from edrnet_tf.extraction.synthetic_video import write_video


def best_time(fn, repeats):
    """(smallest wall time in s, last result) of ``repeats`` calls."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def measure(seconds, frames_per_segment, batch_size, repeats, size, frame_rule):
    extractor = FeatureExtractor(vggish_checkpoint=None, vgg19_weights=None, frames_per_segment=frames_per_segment,
                                 batch_size=batch_size, frame_rule=frame_rule)
    model = EDRNet(EDRNetConfig())
    with tempfile.TemporaryDirectory() as folder:
        path = write_video(pathlib.Path(folder) / "video.mp4", seconds, fps=25, size=size, sample_rate=44100)
        stages = {}
        stages["decode_s"], video = best_time(
            lambda: decode.decode_video(path, frames_per_segment, frame_rule=frame_rule), repeats)
        stages["vggish_s"], audio = best_time(lambda: extractor.audio_features(video.audio), repeats)
        stages["vgg19_s"], vis = best_time(
            lambda: visual.segment_maps(extractor.visual_model, video.frames.reshape(-1, *video.frames.shape[2:]),
                                        frames_per_segment, batch_size), repeats)
        stages["end_to_end_s"], _ = best_time(lambda: extractor(path), 1)  # streamed, as the CLI runs it
        inputs = {"audio": audio[None], "visual": vis[None]}
        stages["edrnet_s"], _ = best_time(lambda: model.predict_on_batch(inputs), repeats)
    extraction = stages["decode_s"] + stages["vggish_s"] + stages["vgg19_s"]
    return {"video_seconds": seconds, "segments": int(video.segments), "frames_per_segment": frames_per_segment,
            "frame_rule": frame_rule, "decode_share_of_vgg19": round(stages["decode_s"] / stages["vgg19_s"], 4),
            "frames_through_vgg19": int(video.segments * frames_per_segment), "source_size": list(size),
            **{k: round(v, 4) for k, v in stages.items()}, "extraction_s": round(extraction, 3),
            "videos_per_s": round(1.0 / (extraction + stages["edrnet_s"]), 4),
            "edrnet_share_of_total": round(stages["edrnet_s"] / (extraction + stages["edrnet_s"]), 5)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="Length of the timed video (AVE: 10).")
    parser.add_argument("--frames-per-segment", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=64, help="Frames per VGG-19 batch.")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--frame-rule", choices=decode.FRAME_RULES, default="ave")
    args = parser.parse_args(argv)
    if args.seconds < EDRNetConfig().min_segments:
        parser.error(f"--seconds={args.seconds} is invalid: the default EDRNet needs >= {EDRNetConfig().min_segments}")
    result = measure(args.seconds, args.frames_per_segment, args.batch_size, args.repeats, (args.width, args.height),
                     args.frame_rule)
    result.update(weights="random (timing only)", cpus=os.cpu_count(),
                  load_average_1min=round(os.getloadavg()[0], 2), edrnet_config="EDRNetConfig() default")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
