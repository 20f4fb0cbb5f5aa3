"""Decoding a video file (PyAV, which ships FFmpeg) into one-second segments: 16 kHz mono audio and RGB
frames sampled evenly inside each second.

A video of D seconds gives T = floor(D) segments, D being the shorter of its audio and its frames. The
audio is resampled by FFmpeg's libswresample to 16 kHz (float, per channel) and averaged over channels,
as ``vggish_input.waveform_to_examples`` does. Segment t gets ``frames_per_segment`` frames, frame k
being the one shown at time ``t + (k + 0.5) / frames_per_segment`` (the last frame whose timestamp, counted
from the stream's start time, is not later), scaled to ``image_size`` x ``image_size`` RGB (AVE's visual
features: 16 frames per second, 224 x 224, VGG-19).
"""

import contextlib
import dataclasses
import pathlib

import av
import numpy as np

SAMPLE_RATE = 16000


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
    """All samples of the first audio track of ``path``, 16 kHz mono float32."""
    with _decoding(path) as container:
        if not container.streams.audio and not container.streams.video:
            raise ValueError(f"{str(path)!r}: is empty (no audio or video stream)")
        if not container.streams.audio:
            raise ValueError(f"{str(path)!r}: has no audio track")
        resampler = av.AudioResampler(format="fltp", rate=SAMPLE_RATE)
        chunks = []
        for frame in container.decode(container.streams.audio[0]):
            chunks.extend(f.to_ndarray() for f in resampler.resample(frame))
        chunks.extend(f.to_ndarray() for f in resampler.resample(None))
    if not chunks:
        return np.zeros(0, np.float32)
    return np.concatenate(chunks, axis=1).mean(axis=0).astype(np.float32)


def iter_frames(path, frames_per_segment=16, image_size=224, max_segments=None):
    """Yields [S, S, 3] uint8 RGB frames: the one shown at each time ``(i + 0.5) / frames_per_segment`` up
    to the video's end (or ``max_segments`` seconds), decoding one frame at a time."""
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


def decode_video(path, frames_per_segment=16, image_size=224):
    """A ``DecodedVideo`` of the whole seconds of ``path`` (every frame in memory: for tests and timing;
    ``FeatureExtractor`` streams them); unreadable, audio-less and sub-second videos raise one-line
    ``ValueError`` naming the file."""
    path = pathlib.Path(path)
    audio = decode_audio(path)
    frames = list(iter_frames(path, frames_per_segment, image_size))
    segments = whole_segments(path, audio, len(frames) // frames_per_segment)
    frames = np.stack(frames[:segments * frames_per_segment])
    return DecodedVideo(path, audio[:segments * SAMPLE_RATE],
                        frames.reshape(segments, frames_per_segment, *frames.shape[1:]))
