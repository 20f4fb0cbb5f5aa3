"""Small synthetic videos written with PyAV (a sine tone and a red square crossing a black frame): the
inputs of the extraction tests and of ``benchmarks/extraction.py``."""

import pathlib

import av
import numpy as np

# Codecs per container (FFmpeg picks the container from the suffix); others get MPEG-4 part 2 + AAC.
CODECS = {".webm": ("libvpx", "libopus", 48000)}


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
        step = astream.codec_context.frame_size or 1024
        for start in range(0, samples, step):
            chunk = np.repeat(wave[None, start:start + step], channels, axis=0)
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout=layout)
            frame.sample_rate, frame.pts = sample_rate, start
            for packet in astream.encode(frame):
                container.mux(packet)
        for packet in astream.encode():
            container.mux(packet)
    container.close()
    return path
