"""OpenCV's ``cv2.resize(image, (size, size))`` (``INTER_LINEAR``, uint8) in NumPy, bit for bit.

AVE resized each full-size RGB frame to 224 x 224 with ``cv2.resize`` (YapengTian/AVE-ECCV18,
``attention_visualization.py``, line 111): bilinear interpolation between the two nearest source pixels
on each axis, no anti-aliasing however large the shrink. OpenCV computes it in fixed point, and so does
this function, step for step (``modules/imgproc/src/resize.cpp``, ``resizeGeneric_`` with
``HResizeLinear`` and ``VResizeLinearVec_32s8u``):

- destination pixel d samples source position ``f = (d + 0.5) * src / dst - 0.5`` (float32), from pixel
  ``floor(f)`` with weight ``1 - frac(f)`` and the next one with ``frac(f)``; weights are rounded to
  multiples of 1/2048 (``INTER_RESIZE_COEF_BITS = 11``);
- along x a position left of pixel 0 or right of the last pixel takes that pixel alone; along y the
  weights stay and the row index is clamped (so a border row is read twice);
- rows: ``sum(pixel * weight)`` in integers; columns: ``((row0 >> 4) * w0 >> 16) + ((row1 >> 4) * w1 >> 16)``,
  then ``(+ 2) >> 2`` (the SIMD path OpenCV takes for 8-bit images).

``tests/test_extraction.py`` checks it against ``cv2.resize`` (opencv-python-headless, a test dependency
only): maximum difference 0 grey levels on every size tried.
"""

import numpy as np

COEF_BITS = 11  # INTER_RESIZE_COEF_BITS
COEF_SCALE = 1 << COEF_BITS


def _positions(source, size):
    """(index of the left/top source pixel, fraction) of each destination pixel, as OpenCV's float32."""
    position = ((np.arange(size) + 0.5) * (source / size) - 0.5).astype(np.float32)
    index = np.floor(position).astype(np.int64)
    return index, position - index.astype(np.float32)


def _weights(fraction):
    """[2, size] int32 fixed-point weights ``round((1 - f) * 2048)``, ``round(f * 2048)``."""
    return np.rint(np.stack([1.0 - fraction, fraction]) * COEF_SCALE).astype(np.int32)


def resize_linear(image, size=224):
    """[H, W, C] uint8 -> [size, size, C] uint8, equal to ``cv2.resize(image, (size, size))``."""
    height, width, channels = image.shape
    x, fx = _positions(width, size)
    outside = (x < 0) | (x >= width - 1)
    fx[outside] = 0.0
    x = np.clip(x, 0, width - 1)
    wx = np.repeat(_weights(fx), channels, axis=1)  # [2, size * C]: long inner loops, not loops of C
    y, fy = _positions(height, size)
    wy = _weights(fy)[:, :, None]  # [2, size, 1]
    lines = np.ascontiguousarray(image).reshape(height, width * channels)

    def pixels(rows, columns):  # image[rows][:, columns] as [size, size * C] int32: whole rows, then bytes
        return lines.take(rows, axis=0).take((columns[:, None] * channels + np.arange(channels)).reshape(-1),
                                             axis=1).astype(np.int32)

    x0, x1 = x, np.minimum(x + 1, width - 1)
    rows = [(pixels(ys, x0) * wx[0] + pixels(ys, x1) * wx[1]) >> 4  # the row pass, only where it is used
            for ys in (np.clip(y, 0, height - 1), np.clip(y + 1, 0, height - 1))]
    values = (((rows[0] * wy[0]) >> 16) + ((rows[1] * wy[1]) >> 16) + 2) >> 2
    return np.clip(values, 0, 255).astype(np.uint8).reshape(size, size, channels)
