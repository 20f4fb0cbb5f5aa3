"""Small synthetic videos written with PyAV (a sine tone and a red square crossing a black frame, or
lossless numbered frames with known PCM samples): the inputs of the extraction tests and of
``benchmarks/extraction.py``."""

import pathlib

import av
import numpy as np

# Codecs per container (FFmpeg picks the container from the suffix); others get MPEG-4 part 2 + AAC.
CODECS = {".webm": ("libvpx", "libopus", 48000)}
LOSSLESS = ("ffv1", "bgr0", "pcm_s16le")  # Matroska: every decoded pixel and sample is the one written


def numbered_frames(count, size=(64, 48)):
    """[count, H, W, 3] uint8 frames that all differ and move: green = the frame number (mod 256) on
    every pixel, red = a square crossing the frame, blue = a texture scrolling one pixel a frame."""
    width, height = size
    ys, xs = np.mgrid[:height, :width]
    frames = np.zeros((count, height, width, 3), np.uint8)
    for i in range(count):
        frames[i, ..., 1] = i % 256
        left = int(i / max(1, count - 1) * (width - 16))
        frames[i, height // 3:height // 3 + 16, left:left + 16, 0] = 255
        frames[i, ..., 2] = (((xs + i) // 4 + ys // 4) % 2) * 200 + 20
    return frames


def pcm_samples(seconds, sample_rate=16000, channels=2, seed=0):
    """[channels, seconds * rate] int16: a rising chirp with seeded noise, channels different."""
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    rng = np.random.default_rng(seed)
    waves = [0.4 * np.sin(2 * np.pi * (200 + 900 * c + 1500 * t) * t) + 0.05 * rng.standard_normal(t.shape)
             for c in range(channels)]
    return np.round(np.clip(np.stack(waves), -1, 1) * 32767).astype(np.int16)


def write_lossless_video(path, frames, samples, fps=25, sample_rate=16000):
    """A Matroska file of ``frames`` ([N, H, W, 3] uint8, FFV1) and ``samples`` ([C, S] int16, PCM), both
    decoded back exactly."""
    video_codec, pix_fmt, audio_codec = LOSSLESS
    container = av.open(str(path), "w")
    vstream = container.add_stream(video_codec, rate=fps)
    vstream.width, vstream.height = frames.shape[2], frames.shape[1]
    vstream.pix_fmt = pix_fmt
    layout = "stereo" if len(samples) == 2 else "mono"
    astream = container.add_stream(audio_codec, rate=sample_rate, layout=layout)
    container.start_encoding()
    for image in frames:
        for packet in vstream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")):
            container.mux(packet)
    for packet in vstream.encode():
        container.mux(packet)
    _mux_audio(container, astream, samples, "s16p", layout, 1024)
    container.close()
    return path


def write_video(path, seconds=2.0, fps=10, size=(64, 48), tone_hz=440.0, sample_rate=22050, audio=True,
                video=True, channels=2):
    """A video file of ``seconds`` (container from the suffix: .mp4, .mkv, .avi, .webm ...): a red square
    crossing a black frame and a sine tone."""
    video_codec, audio_codec, sample_rate = CODECS.get(pathlib.Path(path).suffix, ("mpeg4", "aac", sample_rate))
    container = av.open(str(path), "w")
    if video:
        vstream = container.add_stream(video_codec, rate=fps)
        vstream.width, vstream.height = size
        vstream.pix_fmt = "yuv420p"
    if audio:
        layout = "stereo" if channels == 2 else "mono"
        astream = container.add_stream(audio_codec, rate=sample_rate, layout=layout)
    container.start_encoding()  # headers even when no frame follows (a zero-length video)
    if video:
        count = int(round(seconds * fps))
        for i in range(count):
            image = np.zeros((size[1], size[0], 3), np.uint8)
            left = int(i / max(1, count - 1) * (size[0] - 16))
            image[16:32, left:left + 16] = (255, 0, 0)
            for packet in vstream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in vstream.encode():
            container.mux(packet)
    if audio:
        samples = int(round(seconds * sample_rate))
        wave = (0.5 * np.sin(2 * np.pi * tone_hz * np.arange(samples) / sample_rate)).astype(np.float32)
        _mux_audio(container, astream, np.repeat(wave[None], channels, axis=0), "fltp", layout,
                   astream.codec_context.frame_size or 1024)
    container.close()
    return path


def _mux_audio(container, stream, samples, sample_format, layout, step):
    """Encodes [channels, n] ``samples`` at the stream's rate in frames of ``step`` samples, then flushes."""
    for start in range(0, samples.shape[1], step):
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, start:start + step]),
                                           format=sample_format, layout=layout)
        frame.sample_rate, frame.pts = stream.rate, start
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
