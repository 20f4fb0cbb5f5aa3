"""CAMs of Fig. 8 (edrnet_tf.cam) against a NumPy reference, the PNG strip and its TensorBoard callback."""

import numpy as np
import pytest
from PIL import Image

from edrnet_tf import EDRNet, ave
from edrnet_tf import cam as cam_cli
from edrnet_tf.analysis import cam, cam_strip
from tests.helpers import random_inputs, random_labels, tiny_config

K = 3


def np_positions(n, depth):
    """Eq. 1 written out: sin(t / 10000^(2k/d)) at feature 2k, cos at 2k + 1."""
    table = np.zeros((n, depth))
    for t in range(n):
        for i in range(depth):
            angle = t / 10000.0 ** (2 * (i // 2) / depth)
            table[t, i] = np.sin(angle) if i % 2 == 0 else np.cos(angle)
    return table


def np_visual_conv(visual, kernel, bias):
    """3x3 'same' Conv2D + ReLU of every segment's map: [N, 7, 7, 512] -> [N, 7, 7, d_v]."""
    n, h, w, _ = visual.shape
    padded = np.pad(visual, ((0, 0), (1, 1), (1, 1), (0, 0)))
    out = np.zeros((n, h, w, kernel.shape[-1])) + bias
    for di in range(3):
        for dj in range(3):
            out += np.einsum("nhwc,cd->nhwd", padded[:, di:di + h, dj:dj + w], kernel[di, dj])
    return np.maximum(out, 0.0)


def np_cams(audio, visual, weights, branch, position_scale):
    """The Fig. 8 CAMs of one video, segment by segment, from the weights alone (identity input statistics)."""
    maps = np_visual_conv(visual, *weights["visual_conv"])
    pooled = maps.mean(axis=(1, 2))
    features = pooled if branch == "V" else np.concatenate([audio, pooled], axis=-1)
    x = features + position_scale * np_positions(*features.shape)
    kernel, bias = weights[f"decompose_{branch}_1"]
    offset = 0 if branch == "V" else ave.AUDIO_DIM
    n, k = len(x), kernel.shape[0]
    cams, channels = [], []
    for t in range(n - k + 1):
        activation = sum(x[t + j] @ kernel[j] for j in range(k)) + bias
        c = int(np.argmax(activation))
        channels.append(c)
        cam_t = np.zeros(maps.shape[1:3])
        for j in range(k):
            for i in range(maps.shape[-1]):
                cam_t += kernel[j, offset + i, c] * maps[t + j, :, :, i]
        cams.append(cam_t / k)
    return np.stack(cams), np.array(channels)


def hand_built(branches=("A", "V", "AV"), seed=0):
    """A tiny EDRNet whose visual conv and first decomposition layers get known random weights."""
    model = EDRNet(tiny_config(width=12, visual_width=6, branches=branches))
    rng = np.random.default_rng(seed)
    weights = {}
    for name in ["visual_conv"] + [f"decompose_{b}_1" for b in ("V", "AV") if b in branches]:
        layer = model.get_layer(name)
        kernel = rng.normal(0, 0.05, layer.kernel.shape).astype("float32")
        bias = rng.normal(0, 0.1, layer.bias.shape).astype("float32")
        layer.set_weights([kernel, bias])
        weights[name] = (kernel.astype(np.float64), bias.astype(np.float64))
    return model, weights


@pytest.fixture(scope="module")
def full_model():
    return hand_built()


@pytest.mark.core
def test_cams_of_both_branches_equal_the_numpy_reference(full_model):
    model, weights = full_model
    inputs = random_inputs(batch=2, seed=1)
    result = cam.class_activation_maps(model, inputs)
    assert result["visual"].shape == (2, ave.N_SEGMENTS - K + 1, 7, 7)
    assert result["audio_guided"].shape == (2, ave.N_SEGMENTS - K + 1, 7, 7)
    for b in range(2):
        for kind, branch in (("visual", "V"), ("audio_guided", "AV")):
            expected, channels = np_cams(inputs["audio"][b].astype(np.float64), inputs["visual"][b].astype(np.float64),
                                         weights, branch, model.config.position_scale)
            np.testing.assert_array_equal(result[f"{kind}_channels"][b], channels)
            np.testing.assert_allclose(result[kind][b], expected, rtol=1e-4, atol=1e-5)


@pytest.mark.core
def test_kernel_cams_of_a_one_channel_kernel_average_the_taps():
    # One output channel, kernel taps 1, 2, 3 on one visual feature: the CAM at t is (m_t + 2 m_{t+1} + 3 m_{t+2}) / 3.
    maps = np.arange(5, dtype="float32")[None, :, None, None, None] * np.ones((1, 5, 2, 2, 1), "float32")
    kernel = np.array([1.0, 2.0, 3.0], "float32").reshape(3, 1, 1)
    cams, channels = cam.kernel_cams(maps, np.ones((1, 5, 1), "float32"), kernel, np.zeros(1, "float32"))
    expected = np.array([(t + 2 * (t + 1) + 3 * (t + 2)) / 3 for t in range(3)])
    np.testing.assert_allclose(np.asarray(cams)[0, :, 0, 0], expected)
    assert np.asarray(channels).tolist() == [[0, 0, 0]]


@pytest.mark.parametrize("branches, kinds", [(("A", "V"), ["visual"]), (("A", "AV"), ["audio_guided"]),
                                             (("V",), ["visual"])])
def test_cam_kinds_follow_the_active_branches(branches, kinds):
    model = EDRNet(tiny_config(branches=branches))
    assert cam.cam_kinds(model) == kinds
    result = cam.class_activation_maps(model, random_inputs(batch=1))
    assert [k for k in cam.KINDS if k in result] == kinds


def test_audio_only_model_has_no_cam():
    with pytest.raises(ValueError, match="V or AV branch"):
        cam.cam_kinds(EDRNet(tiny_config(branches=("A",))))


def test_upsample_keeps_a_constant_map_and_gives_the_size():
    up = cam.upsample(np.full((2, 7, 7), 3.0), 40)
    assert up.shape == (2, 40, 40)
    np.testing.assert_allclose(up, 3.0, rtol=1e-6)


def strip_inputs(full_model, seed=3):
    model, _ = full_model
    result = cam.class_activation_maps(model, random_inputs(batch=1, seed=seed))
    cams = {kind: result[kind][0] for kind in ("visual", "audio_guided")}
    return cams, random_labels(batch=1, seed=seed)[0], result["probs"][0].argmax(-1)


def test_strip_png_is_a_valid_image_of_the_expected_size(full_model, tmp_path):
    cams, labels, predictions = strip_inputs(full_model)
    path = tmp_path / "strip.png"
    cam_strip.write_strip(path, cams, K, labels, predictions, cell_px=48, title="row 0")
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        # 10 segments + the row-name column; 2 CAM rows + the label row, plus a quarter-cell title band.
        assert image.format == "PNG"
        assert image.size == (11 * 48, 3 * 48 + 12)
    assert not list(tmp_path.glob("*.partial"))


def test_strip_over_frames_adds_a_frame_row_and_shows_them(full_model, tmp_path):
    cams, labels, predictions = strip_inputs(full_model)
    folder = tmp_path / "frames"
    folder.mkdir()
    for t in range(ave.N_SEGMENTS):
        Image.new("RGB", (80, 60), (0, 255, 0)).save(folder / f"frame_{t:02d}.jpg")
    frames = cam_strip.read_frames(folder, ave.N_SEGMENTS)
    assert len(frames) == ave.N_SEGMENTS and frames[0].shape == (60, 80, 3)
    path = tmp_path / "strip.png"
    cam_strip.write_strip(path, cams, K, labels, predictions, frames=frames, cell_px=40)
    with Image.open(path) as image:
        assert image.size == (11 * 40, 4 * 40 + 10)
        pixels = np.asarray(image.convert("RGB"))
    # The middle of the first frame cell (row 0, column 1, below the title band) is the green frame.
    centre = pixels[10 + 20, 40 + 20]
    assert centre[1] > 200 and centre[0] < 60 and centre[2] < 60


def test_read_frames_rejects_a_wrong_count_in_one_line(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "only.jpg")
    with pytest.raises(ValueError, match=r"expected 10 frame images .* found 1$") as error:
        cam_strip.read_frames(tmp_path, 10)
    assert "\n" not in str(error.value)
    with pytest.raises(FileNotFoundError, match="no such folder"):
        cam_strip.read_frames(tmp_path / "missing", 10)


def test_write_strip_rejects_cams_of_the_wrong_length(full_model, tmp_path):
    cams, labels, predictions = strip_inputs(full_model)
    with pytest.raises(ValueError, match=r"expected 8 positions \(N - k \+ 1\), found 7"):
        cam_strip.write_strip(tmp_path / "x.png", {"visual": cams["visual"][:7]}, K, labels, predictions)
    assert not (tmp_path / "x.png").exists()


def test_cam_images_callback_logs_one_image_per_video(tmp_path):
    import tensorflow as tf

    from edrnet_tf.analysis.cam_callback import CamImages

    model = EDRNet(tiny_config())
    inputs = random_inputs(batch=2, seed=4)
    callback = CamImages(inputs, random_labels(batch=2, seed=4), tmp_path, names=["a", "b"], every=0, cell_px=32)
    callback.set_model(model)
    callback.on_train_begin()
    callback.on_epoch_end(0)
    callback.on_train_end()
    images = {}
    for event_file in tmp_path.glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(event_file)):
            for value in event.summary.value:
                images[value.tag] = tf.make_ndarray(value.tensor)
    assert sorted(images) == ["cam/a", "cam/b"]
    # summary.image stores [width, height, png...] as strings.
    assert [int(images["cam/a"][0]), int(images["cam/a"][1])] == list(cam_strip.strip_size(10, 2, 32))


def test_cli_writes_the_strip_of_a_saved_model(built_ave, tmp_path):
    model = EDRNet(tiny_config())
    model.save(tmp_path / "model.keras")
    output = tmp_path / "cam.png"
    from edrnet_tf.data import pipeline

    row = int(next(pipeline.load_split(built_ave, "test").take(1).as_numpy_iterator())["row"])
    cam_cli.main(["--model", str(tmp_path / "model.keras"), "--row", str(row), "--dataset", "ave",
              "--data-dir", str(built_ave), "--output", str(output), "--cell-px", "32"])
    with Image.open(output) as image:
        assert image.size == cam_strip.strip_size(10, 2, 32)


def test_cli_names_a_missing_model_and_an_unknown_row(built_ave, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cam_cli.main(["--model", str(tmp_path / "nothing"), "--row", "0"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "--model=" in error and "expected a run folder holding model.keras, or a .keras file" in error
    (tmp_path / "bad.keras").write_text("not a zip")
    with pytest.raises(ValueError, match="bad.keras.* expected a saved EDRNet"):
        cam_cli.main(["--model", str(tmp_path / "bad.keras"), "--row", "0"])
    with pytest.raises(ValueError, match="--row=999999 is invalid"):
        cam_cli.find_example(built_ave, 999999)


def test_normalise_scales_each_map_or_the_whole_strip_to_unit_range():
    cams = np.stack([np.arange(49.0).reshape(7, 7), 10 + 2 * np.arange(49.0).reshape(7, 7)])
    per_map = cam_strip.normalise(cams, "map")
    np.testing.assert_allclose(per_map[0], per_map[1])
    np.testing.assert_allclose([per_map.min(axis=(1, 2)), per_map.max(axis=(1, 2))], [[0, 0], [1, 1]])
    strip = cam_strip.normalise(cams, "strip")
    np.testing.assert_allclose(strip, (cams - 0.0) / (10 + 2 * 48.0))
    np.testing.assert_array_equal(cam_strip.normalise(np.ones((2, 7, 7))), np.zeros((2, 7, 7)))
    with pytest.raises(ValueError, match="--scale='x' is invalid"):
        cam_strip.normalise(cams, "x")
