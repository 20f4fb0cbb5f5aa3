"""Class activation maps of EDRNet's visual and audio-guided visual branches (paper Fig. 8).

"Qualitative Analysis": the kernel weights of the most activated channel of ``D_V^1`` (and of the visual
part of ``D_AV^1``, Eq. 2) are the coefficients of the pre-pooling visual feature maps whose global
average is ``f_t^V``; the k-averaged weighted sum is one CAM per output position of the first
decomposition layer (8 for k = 3, N = 10). Since GAP is linear, weighting the maps by the kernel is the
same weighting the Conv1D applies to the pooled features. The sinusoidal positions (Eq. 1) are added
before ``D^1``: they take part in picking the most activated channel, not in the maps.

``cam_probe``, ``kernel_cams`` (the math, ``keras.ops`` only), ``class_activation_maps``, ``upsample``.
The PNG strip is drawn by ``cam_strip``; ``python -m edrnet_tf.cam`` is the CLI.
"""

import keras
import numpy as np
from keras import ops

# CAM kind -> (the branch it needs, the first decomposition layer of that branch).
KINDS = {"visual": ("V", "decompose_V_1"), "audio_guided": ("AV", "decompose_AV_1")}
TITLES = {"visual": "visual CAM", "audio_guided": "audio-guided visual CAM"}


def cam_kinds(model):
    """The CAM kinds a model supports: ``"visual"`` iff branch V, ``"audio_guided"`` iff branch AV."""
    kinds = [kind for kind, (branch, _) in KINDS.items() if branch in model.config.branches]
    if not kinds:
        raise ValueError(f"CAMs need the V or AV branch; this model has branches {list(model.config.branches)}")
    return kinds


def cam_probe(model):
    """A model over ``model``'s inputs returning what the CAMs need, in one forward pass.

    Outputs: ``"maps"`` [B*N, H, W, d_v] (the output of ``"visual_conv"``), ``"<kind>_input"`` [B, N, D]
    (the input of each kind's first decomposition layer, positions of Eq. 1 included) and ``"probs"``.
    """
    outputs = {"maps": model.get_layer("visual_conv").output, "probs": model.output["probs"]}
    for kind in cam_kinds(model):
        outputs[f"{kind}_input"] = model.get_layer(KINDS[kind][1]).input
    return keras.Model(model.input, outputs, name=f"{model.name}_cam_probe")


def kernel_cams(maps, decomposition_input, kernel, bias, offset=0):
    """The CAMs of one first decomposition layer (Fig. 8), in ``keras.ops``.

    For each output position ``t`` of the valid Conv1D ``D^1`` (``kernel`` [k, D, d], ``bias`` [d]) applied
    to ``decomposition_input`` [B, N, D], the channel ``c`` with the largest pre-activation (the ReLU keeps
    the order of positive values, and does not erase the choice when all are negative) gives the weights
    ``kernel[j, offset + i, c]`` of the visual feature ``i`` at tap ``j``; the CAM is
    ``1/k * sum_j sum_i kernel[j, offset + i, c] * maps[t + j, :, :, i]``.

    Args:
        maps: [B, N, H, W, d_v] pre-pooling visual maps.
        decomposition_input: [B, N, D] the input of ``D^1``.
        kernel, bias: the Conv1D weights.
        offset: the index of the first visual feature in ``D``: 0 for V, 128 (after the audio) for AV.

    Returns:
        (cams [B, N - k + 1, H, W], channels [B, N - k + 1] int).
    """
    k, visual_width = kernel.shape[0], maps.shape[-1]
    if not 0 <= offset <= kernel.shape[1] - visual_width:
        raise ValueError(f"kernel rows {offset}:{offset + visual_width} are out of range for a kernel of shape "
                         f"{tuple(kernel.shape)}")
    activation = ops.conv(decomposition_input, kernel, strides=1, padding="valid") + bias
    channels = ops.argmax(activation, axis=-1)
    positions = activation.shape[1]
    visual_kernel = ops.transpose(kernel[:, offset:offset + visual_width, :], (2, 0, 1))  # [d, k, d_v]
    weights = ops.take(visual_kernel, channels, axis=0)  # [B, T, k, d_v]
    windows = ops.stack([maps[:, j:j + positions] for j in range(k)], axis=2)  # [B, T, k, H, W, d_v]
    cams = ops.einsum("btjc,btjhwc->bthw", weights, windows) / k
    return cams, channels


def class_activation_maps(model, inputs, probe=None):
    """Fig. 8's CAMs of a trained EDRNet for a batch of videos.

    Args:
        model: an ``EDRNet`` with the V and/or AV branch.
        inputs: ``{"audio": [B, N, 128], "visual": [B, N, 7, 7, 512]}``.
        probe: ``cam_probe(model)``, to reuse across calls.

    Returns:
        NumPy arrays: ``"visual"`` and/or ``"audio_guided"`` [B, N - k + 1, 7, 7] CAMs, the chosen
        channels under ``"<kind>_channels"``, and ``"probs"`` [B, N, C] (the gated head).
    """
    probe = probe or cam_probe(model)
    out = probe({"audio": inputs["audio"], "visual": inputs["visual"]}, training=False)
    visual = ops.convert_to_tensor(inputs["visual"])
    maps = ops.reshape(out["maps"], (visual.shape[0], visual.shape[1], *out["maps"].shape[1:]))
    result = {"probs": ops.convert_to_numpy(out["probs"])}
    for kind in cam_kinds(model):
        layer = model.get_layer(KINDS[kind][1])
        offset = layer.kernel.shape[1] - maps.shape[-1]  # AV = concat(audio, visual): visual rows come last
        cams, channels = kernel_cams(maps, out[f"{kind}_input"], layer.kernel, layer.bias, offset)
        result[kind] = ops.convert_to_numpy(cams)
        result[f"{kind}_channels"] = ops.convert_to_numpy(channels)
    return result


def upsample(cams, size):
    """Bilinear upsampling of [..., h, w] maps to [..., size, size] (``keras.ops.image.resize``)."""
    cams = np.asarray(cams, np.float32)
    flat = cams.reshape(-1, *cams.shape[-2:], 1)
    resized = ops.image.resize(flat, (size, size), interpolation="bilinear", data_format="channels_last")
    return ops.convert_to_numpy(resized)[..., 0].reshape(*cams.shape[:-2], size, size)


def centre_segment(position, kernel_size):
    """The segment at the centre of the kernel at output position ``position`` (where its CAM is drawn)."""
    return position + (kernel_size - 1) // 2
