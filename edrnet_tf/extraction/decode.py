"""Decoding a video file (PyAV, which ships FFmpeg) into one-second segments: 16 kHz mono audio and RGB
frames of each second.

A video of D seconds gives T = floor(D) segments, D being the shorter of its audio and its frames.

Audio, as the AVE authors' ``vggish_input.wavfile_to_examples``: the first audio track at its own sample
rate, averaged over channels, cut into one-second pieces, each resampled to 16 kHz by ``resampy`` (its
default ``kaiser_best`` filter), as ``vggish_input.waveform_to_examples`` does to each piece.

Frames, by one of two rules (``FRAME_RULES``), ``frames_per_segment`` = F per segment:

- ``"ave"`` (AVE's, YapengTian/AVE-ECCV18 ``attention_visualization.py`` lines 20-28 and 103-113): with
  N the decoded frames of the video and ``fi = int(N / T)``, frame k of segment t is frame number
  ``int(t * fi + k / F * fi)``, decoded full-size to RGB and resized to ``image_size`` x ``image_size`` by
  ``resize.resize_linear`` (``cv2.resize`` INTER_LINEAR, bit for bit);
- ``"centre"``: the frame shown at time ``t + (k + 0.5) / F`` (the last frame whose timestamp, counted
  from the stream's start time, is not later), scaled by FFmpeg's swscale while converting to RGB.
"""

import contextlib
import dataclasses
import fractions
import pathlib

import av
import numpy as np

from edrnet_tf.extraction.resize import resize_linear

SAMPLE_RATE = 16000
FRAME_RULES = ("ave", "centre")


@dataclasses.dataclass(frozen=True)
class DecodedVideo:
    """``audio``: [T * 16000] float32 mono samples; ``frames``: [T, F, S, S, 3] uint8 RGB."""

    path: pathlib.Path
    audio: np.ndarray
    frames: np.ndarray

    @property
    def segments(self):
        return self.frames.shape[0]


def _open(path):
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r}: no video file there")
    try:
        return av.open(str(path))
    except (av.FFmpegError, OSError, UnicodeDecodeError) as error:
        raise ValueError(f"{str(path)!r}: cannot be read as a video ({_reason(error)})") from None


def _reason(error):
    """FFmpeg's own words for ``error`` (``strerror`` without the errno and path), else its first line."""
    text = getattr(error, "strerror", None) or str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@contextlib.contextmanager
def _decoding(path):
    """The open container of ``path``; FFmpeg errors while decoding become one line naming the file."""
    with _open(path) as container:
        try:
            yield container
        except av.FFmpegError as error:
            raise ValueError(f"{str(path)!r}: cannot be decoded ({_reason(error)})") from None


def decode_audio(path):
    """The first audio track of ``path``: 16 kHz mono float32 samples of its whole seconds, each second
    resampled on its own from the track's rate (``per_second_16khz``)."""
    return per_second_16khz(*decode_waveform(path))


def decode_waveform(path):
    """``(samples, rate)``: the first audio track of ``path`` at its own rate, channels averaged, float32."""
    with _decoding(path) as container:
        if not container.streams.audio and not container.streams.video:
            raise ValueError(f"{str(path)!r}: is empty (no audio or video stream)")
        if not container.streams.audio:
            raise ValueError(f"{str(path)!r}: has no audio track")
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate or stream.rate
        converter = av.AudioResampler(format="fltp", rate=rate)  # sample format only: planar float
        chunks = []
        for frame in container.decode(stream):
            chunks.extend(f.to_ndarray() for f in converter.resample(frame))
        chunks.extend(f.to_ndarray() for f in converter.resample(None))
    if not chunks:
        return np.zeros(0, np.float32), rate
    return np.concatenate(chunks, axis=1).mean(axis=0).astype(np.float32), rate


def per_second_16khz(samples, rate):
    """[floor(len / rate) * 16000] float32: each whole second of ``samples`` (at ``rate`` Hz) resampled to
    16 kHz on its own by ``resampy.resample`` (``kaiser_best``), as the AVE authors' per-second
    ``waveform_to_examples`` calls did; a 16 kHz track is only cut."""
    seconds = len(samples) // rate
    if rate == SAMPLE_RATE:
        return np.asarray(samples[:seconds * SAMPLE_RATE], np.float32)
    import resampy

    pieces = [resampy.resample(np.asarray(samples[s * rate:(s + 1) * rate], np.float64), rate, SAMPLE_RATE)
              for s in range(seconds)]
    return np.concatenate(pieces).astype(np.float32) if pieces else np.zeros(0, np.float32)


def count_frames(path):
    """``(N, rate)``: the frames of the first video track of ``path`` (every one decoded, as AVE's
    ``len(imageio.get_reader(path))`` meant; a demuxer's packet count or the container's frame count can
    differ from the frames a decoder gives, e.g. under an edit list) and its average frame rate (a
    ``Fraction``)."""
    with _decoding(path) as container:
        if not container.streams.video:
            raise ValueError(f"{str(path)!r}: has no video track")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # frame threads: the same frames, 3-4 times faster on 720p
        count = sum(1 for _ in container.decode(stream))
        return count, fractions.Fraction(stream.average_rate or stream.guessed_rate or 25)


def frame_seconds(count, rate):
    """The whole seconds of ``count`` frames at ``rate`` frames per second."""
    return int(count / fractions.Fraction(rate))


def ave_frame_indices(path, count, segments, frames_per_segment=16):
    """AVE's frame numbers ``int(t * fi + k / F * fi)``, ``fi = int(N / T)``, for t < T = ``segments``,
    k < F (``video_frame_sample`` of YapengTian/AVE-ECCV18 ``attention_visualization.py``, lines 20-28,
    called with ``frame_interval = int(vid_len / t)``, line 105). A video of fewer than F x T frames (so
    that the picks of a segment would repeat frames) raises one line naming the file."""
    if count < frames_per_segment * segments:
        raise ValueError(f"{str(path)!r}: {count} frames for T={segments} segments, fewer than the "
                         f"--frames-per-segment={frames_per_segment} per segment that --frame-rule ave picks "
                         "(use --frame-rule centre or a smaller --frames-per-segment)")
    interval = int(count / segments)
    return [int(t * interval + (k * 1.0 / frames_per_segment) * interval)
            for t in range(segments) for k in range(frames_per_segment)]


def iter_picked_frames(path, indices, image_size=224):
    """Yields [S, S, 3] uint8 RGB frames: decoded frame number ``i`` for each ``i`` of the ascending
    ``indices`` (repeats allowed), full-size RGB resized by ``resize_linear`` (``cv2.resize``
    INTER_LINEAR), decoding one frame at a time."""
    picks = iter(indices)
    wanted = next(picks, None)
    with _decoding(path) as container:
        if not container.streams.video:
            raise ValueError(f"{str(path)!r}: has no video track")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for number, frame in enumerate(container.decode(stream)):
            if wanted is None:
                return
            image = None
            while wanted == number:
                if image is None:
                    image = resize_linear(frame.to_ndarray(format="rgb24"), image_size)
                yield image
                wanted = next(picks, None)
    if wanted is not None:
        raise ValueError(f"{str(path)!r}: frame {wanted} could not be decoded (the video changed while read?)")


def iter_frames(path, frames_per_segment=16, image_size=224, max_segments=None):
    """``--frame-rule centre``. Yields [S, S, 3] uint8 RGB frames: the one shown at each time
    ``(i + 0.5) / frames_per_segment`` up to the video's end (or ``max_segments`` seconds), decoding one frame
    at a time."""
    limit = np.inf if max_segments is None else max_segments * frames_per_segment
    with _decoding(path) as container:
        if not container.streams.video:
            raise ValueError(f"{str(path)!r}: has no video track")
        stream = container.streams.video[0]
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        picked, shown, shown_rgb, end = 0, None, None, 0.0
        for index, frame in enumerate(container.decode(stream)):
            time = frame.time - start if frame.time is not None else index / rate
            if shown is None:  # a first frame later than the first targets stands in for them
                shown = frame
            while (picked + 0.5) / frames_per_segment < time and picked < limit:
                if shown_rgb is None:
                    shown_rgb = shown.to_ndarray(width=image_size, height=image_size, format="rgb24")
                yield shown_rgb
                picked += 1
            if picked >= limit:
                return
            shown, shown_rgb, end = frame, None, time + 1.0 / rate
        while shown is not None and (picked + 0.5) / frames_per_segment < end and picked < limit:
            if shown_rgb is None:
                shown_rgb = shown.to_ndarray(width=image_size, height=image_size, format="rgb24")
            yield shown_rgb
            picked += 1


def whole_segments(path, audio, segments_of_frames):
    """T = the whole seconds of both ``audio`` and the frames; under one second raises naming ``path``."""
    segments = min(len(audio) // SAMPLE_RATE, segments_of_frames)
    if segments == 0:
        raise ValueError(f"{str(path)!r}: shorter than one second (audio {len(audio) / SAMPLE_RATE:.2f} s, "
                         f"frames {segments_of_frames} whole s)")
    return segments


def decode_video(path, frames_per_segment=16, image_size=224, frame_rule="ave"):
    """A ``DecodedVideo`` of the whole seconds of ``path`` (every picked frame in memory: for tests and
    timing; ``FeatureExtractor`` streams them); unreadable, audio-less and sub-second videos raise one-line
    ``ValueError`` naming the file."""
    path = pathlib.Path(path)
    audio = decode_audio(path)
    frames = list(iter_video_frames(path, len(audio), frames_per_segment, image_size, frame_rule))
    segments = whole_segments(path, audio, len(frames) // frames_per_segment)
    frames = np.stack(frames[:segments * frames_per_segment])
    return DecodedVideo(path, audio[:segments * SAMPLE_RATE],
                        frames.reshape(segments, frames_per_segment, *frames.shape[1:]))


def iter_video_frames(path, audio_samples, frames_per_segment=16, image_size=224, frame_rule="ave"):
    """The frames of ``path`` by ``frame_rule`` for the segments its 16 kHz audio of ``audio_samples``
    samples and its frames both cover (``"ave"`` counts the frames first, so a sub-second or too
    sparse video raises here)."""
    if frame_rule == "centre":
        return iter_frames(path, frames_per_segment, image_size, max_segments=audio_samples // SAMPLE_RATE)
    count, rate = count_frames(path)
    segments = min(audio_samples // SAMPLE_RATE, frame_seconds(count, rate))
    if segments == 0:
        raise ValueError(f"{str(path)!r}: shorter than one second (audio {audio_samples / SAMPLE_RATE:.2f} s, "
                         f"frames {float(count / rate):.2f} s)")
    return iter_picked_frames(path, ave_frame_indices(path, count, segments, frames_per_segment), image_size)
