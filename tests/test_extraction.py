"""Feature extraction: decoding, the VGGish front end against NumPy, the network and its checkpoint loader,
PCA post-processing against NumPy, VGG-19 segment maps, the whole path and the resumable writer; AVE's
frame picks, OpenCV's resize and the 2018 VGGish against independent references."""

import cv2
import h5py
import numpy as np
import pytest
import tensorflow as tf

from edrnet_tf import extract
from edrnet_tf.extraction import (FeatureExtractor, decode, features_for_videos, mel, pca, resize, vggish, visual,
                                  writer)
from edrnet_tf.extraction.synthetic_video import numbered_frames, pcm_samples, write_lossless_video, write_video

FRAMES = 2  # frames per segment in the tests (16 in AVE): VGG-19 on 2 cores is the cost


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    return {"two": write_video(folder / "two.mp4", seconds=2.0),
            "three": write_video(folder / "three.mp4", seconds=3.0, fps=8),
            "silent": write_video(folder / "silent.mp4", seconds=2.0, audio=False),
            "short": write_video(folder / "short.mp4", seconds=0.5),
            "empty": write_video(folder / "empty.mp4", seconds=0.0)}


@pytest.fixture(scope="module")
def extractor():
    return FeatureExtractor(vggish_checkpoint=None, vgg19_weights=None, frames_per_segment=FRAMES)


def numpy_log_mel(second):
    """An independent VGGish front end: loops, NumPy's FFT and the HTK mel formula 2595 log10(1 + f/700)."""
    window = np.hanning(401)[:-1]  # periodic Hann of 400 points
    frames = np.stack([second[160 * i:160 * i + 400] * window for i in range(96)])
    magnitude = np.abs(np.fft.rfft(frames, n=512))
    to_mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731
    edges = np.linspace(to_mel(125.0), to_mel(7500.0), 66)
    weights = np.zeros((257, 64))
    for band in range(64):
        for b in range(1, 257):  # DC excluded
            m = to_mel(b * 8000.0 / 256)
            up = (m - edges[band]) / (edges[band + 1] - edges[band])
            down = (edges[band + 2] - m) / (edges[band + 2] - edges[band + 1])
            weights[b, band] = max(0.0, min(up, down))
    return np.log(magnitude @ weights + 0.01)


@pytest.mark.core  # keras.ops model code: also run on JAX in CI
def test_log_mel_examples_match_an_independent_numpy_front_end():
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    seconds = np.stack([0.3 * np.sin(2 * np.pi * 440 * t), rng.uniform(-1, 1, 16000)]).astype(np.float32)
    got = np.asarray(mel.LogMelExamples()(seconds))
    assert got.shape == (2, 96, 64)
    for row in range(2):
        np.testing.assert_allclose(got[row], numpy_log_mel(seconds[row].astype(np.float64)), atol=2e-3, rtol=1e-4)


@pytest.mark.core  # keras.ops model code: also run on JAX in CI
def test_mel_matrix_has_64_htk_triangles_from_125_to_7500_hz_and_no_dc_weight():
    weights = mel.mel_matrix()
    assert weights.shape == (257, 64) and np.all(weights[0] == 0)
    hz = np.arange(257) * 8000.0 / 256
    used = hz[weights.sum(axis=1) > 0]
    assert used.min() > 125.0 and used.max() < 7500.0
    assert np.all(weights.max(axis=0) > 0.5)


@pytest.mark.core  # keras.ops model code: also run on JAX in CI
def test_vggish_network_maps_96x64_examples_and_one_second_waveforms_to_128d():
    network = vggish.vggish_network()
    assert network.output_shape == (None, 128)
    assert sum(int(np.prod(w.shape)) for w in network.weights) == 72141184  # the published VGGish size
    audio_model = vggish.vggish_audio_model(network)
    assert audio_model(np.zeros((3, 16000), np.float32)).shape == (3, 128)


def save_slim_checkpoint(prefix, tensors, v1=False):
    """A TF checkpoint holding ``tensors`` under their exact names, as TF-slim's Saver writes them: the V1
    single file of the official ``vggish_model.ckpt`` (``write_version=1``), or V2 (.index + .data)."""
    names = list(tensors)
    values = [tf.constant(tensors[n]) for n in names]
    if v1:
        tf.raw_ops.Save(filename=str(prefix), tensor_names=names, data=values)
    else:
        tf.raw_ops.SaveV2(prefix=str(prefix), tensor_names=names, shape_and_slices=[""] * len(names), tensors=values)
    return prefix


@pytest.fixture(scope="module")
def slim_tensors():
    """Every variable of the official vggish_model.ckpt, its name and shape, random values (He-scaled, so
    activations stay of order one through the 2018 graph)."""
    network = vggish.vggish_network()
    rng = np.random.default_rng(1)
    found = {}
    for layer_name, scope in vggish.SLIM_SCOPES.items():
        kernel, bias = network.get_layer(layer_name).weights
        fan_in = int(np.prod(kernel.shape[:-1]))
        found[f"{scope}/weights"] = (rng.standard_normal(kernel.shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        found[f"{scope}/biases"] = rng.normal(0.05, 0.1, size=bias.shape).astype(np.float32)
    found["global_step"] = np.int64(7)
    return found


def numpy_vggish_2018(examples, tensors):
    """An independent forward pass of the 2018 ``vggish_slim.define_vggish_slim`` graph in float64: 3x3 SAME
    ReLU convolutions as nine shifted matrix products, 2x2 max-pools, the NHWC (row-major [6, 4, 512])
    flatten, fc1_1, fc1_2 and fc2, every one followed by a ReLU (fc2 inherits the arg_scope's
    ``activation_fn``). Returns ``(embedding after the ReLU, fc2 before it)``."""
    def weights(scope):
        return tensors[f"vggish/{scope}/weights"].astype(np.float64), tensors[f"vggish/{scope}/biases"]

    def conv(x, scope):
        kernel, bias = weights(scope)
        padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
        out = sum(padded[:, i:i + x.shape[1], j:j + x.shape[2]] @ kernel[i, j] for i in range(3) for j in range(3))
        return np.maximum(out + bias, 0.0)

    def pool(x):
        b, h, w, c = x.shape
        return x.reshape(b, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))

    x = np.asarray(examples, np.float64)[..., None]
    for scopes in (["conv1"], ["conv2"], ["conv3/conv3_1", "conv3/conv3_2"], ["conv4/conv4_1", "conv4/conv4_2"]):
        for scope in scopes:
            x = conv(x, scope)
        x = pool(x)
    x = x.reshape(len(x), -1)  # NHWC, row-major: slim.flatten
    for scope in ("fc1/fc1_1", "fc1/fc1_2"):
        kernel, bias = weights(scope)
        x = np.maximum(x @ kernel + bias, 0.0)
    kernel, bias = weights("fc2")
    fc2 = x @ kernel + bias
    return np.maximum(fc2, 0.0), fc2


@pytest.fixture(scope="module")
def slim_checkpoint(tmp_path_factory, slim_tensors):
    return save_slim_checkpoint(tmp_path_factory.mktemp("vggish") / "vggish_model.ckpt", slim_tensors, v1=True)


def test_vggish_relu_and_linear_embeddings_equal_a_numpy_forward_of_the_2018_graph(slim_checkpoint, slim_tensors):
    rng = np.random.default_rng(5)
    t = np.arange(16000) / 16000
    seconds = np.stack([0.3 * np.sin(2 * np.pi * 660 * t), rng.uniform(-0.5, 0.5, 16000)]).astype(np.float32)
    examples = np.stack([numpy_log_mel(second.astype(np.float64)) for second in seconds])
    relu, fc2 = numpy_vggish_2018(examples, slim_tensors)
    assert (fc2 < 0).mean() > 0.2 and (fc2 > 0).mean() > 0.2  # the ReLU matters on these weights
    for relu_embedding, expected in ((True, relu), (False, fc2)):
        network = vggish.load_vggish_checkpoint(vggish.vggish_network(relu_embedding), slim_checkpoint)
        got = np.asarray(vggish.vggish_audio_model(network).predict_on_batch(seconds))
        np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-3 * np.abs(expected).max())


def test_checkpoint_loader_copies_every_tf_slim_variable_of_a_v1_checkpoint_into_its_layer(tmp_path, slim_tensors):
    prefix = save_slim_checkpoint(tmp_path / "vggish_model.ckpt", slim_tensors, v1=True)
    network = vggish.load_vggish_checkpoint(vggish.vggish_network(), prefix)
    for layer_name, scope in vggish.SLIM_SCOPES.items():
        kernel, bias = network.get_layer(layer_name).get_weights()
        np.testing.assert_array_equal(kernel, slim_tensors[f"{scope}/weights"])
        np.testing.assert_array_equal(bias, slim_tensors[f"{scope}/biases"])


def test_checkpoint_loader_names_the_file_of_a_foreign_or_missing_checkpoint(tmp_path, slim_tensors):
    conv1 = {k: v for k, v in slim_tensors.items() if k.startswith("vggish/conv1/")}
    with pytest.raises(ValueError, match=r"foreign.ckpt.*no variable 'vggish/conv2/weights'"):
        vggish.load_vggish_checkpoint(vggish.vggish_network(), save_slim_checkpoint(tmp_path / "foreign.ckpt", conv1))
    wrong = {**conv1, "vggish/conv1/weights": np.zeros((3, 3, 1, 32), np.float32)}
    with pytest.raises(ValueError, match=r"wrong.ckpt.*shape \[3, 3, 1, 32\], expected \[3, 3, 1, 64\]"):
        vggish.load_vggish_checkpoint(vggish.vggish_network(), save_slim_checkpoint(tmp_path / "wrong.ckpt", wrong))
    (tmp_path / "garbage.ckpt").write_bytes(b"not a checkpoint" * 10)
    with pytest.raises(ValueError, match="garbage.ckpt"):
        vggish.load_vggish_checkpoint(vggish.vggish_network(), tmp_path / "garbage.ckpt")
    with pytest.raises(FileNotFoundError, match="nothing.ckpt.*vggish_model.ckpt"):
        vggish.load_vggish_checkpoint(vggish.vggish_network(), tmp_path / "nothing.ckpt")


def test_postprocess_is_the_audioset_pca_whitening_and_8_bit_quantisation(tmp_path):
    rng = np.random.default_rng(2)
    means, vectors = rng.normal(size=128), rng.normal(size=(128, 128)) / 8
    np.savez(tmp_path / "pca.npz", pca_eigen_vectors=vectors, pca_means=means.reshape(-1, 1))
    embeddings = rng.normal(size=(5, 128))
    expected = np.dot(vectors, embeddings.T - means.reshape(-1, 1)).T  # the release's column-vector form
    expected = ((np.clip(expected, -2.0, 2.0) + 2.0) * (255.0 / 4.0)).astype(np.uint8)
    got = pca.postprocess(embeddings, pca.load_pca_params(tmp_path / "pca.npz"))
    assert got.dtype == np.float32 and got.min() >= 0 and got.max() <= 255
    np.testing.assert_array_equal(got, expected.astype(np.float32))


def test_pca_params_of_a_foreign_file_raise_one_line_naming_it(tmp_path):
    np.savez(tmp_path / "other.npz", weights=np.zeros(3))
    with pytest.raises(ValueError, match="other.npz.*pca_means"):
        pca.load_pca_params(tmp_path / "other.npz")
    np.savez(tmp_path / "small.npz", pca_eigen_vectors=np.zeros((64, 64)), pca_means=np.zeros(64))
    with pytest.raises(ValueError, match=r"small.npz.*\[64, 64\]"):
        pca.load_pca_params(tmp_path / "small.npz")
    with pytest.raises(FileNotFoundError, match="vggish_pca_params.npz"):
        pca.load_pca_params(tmp_path / "none.npz")


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".webm", ".avi"])
def test_decoding_gives_whole_seconds_of_16khz_mono_audio_and_evenly_sampled_frames(tmp_path, suffix):
    path = write_video(tmp_path / f"three{suffix}", seconds=3.0, fps=8, tone_hz=1000.0)
    video = decode.decode_video(path, frames_per_segment=4, image_size=32)
    assert video.segments == 3 and video.audio.shape == (48000,) and video.frames.shape == (3, 4, 32, 32, 3)
    spectrum = np.abs(np.fft.rfft(video.audio[16000:32000]))
    assert np.argmax(spectrum) == 1000  # the 1 kHz tone, 1 Hz per bin
    red = video.frames[..., 0].astype(float)
    columns = (red.sum(axis=2) * np.arange(32)).sum(-1) / red.sum(axis=(2, 3))  # the square's centre
    assert np.all(np.diff(columns.reshape(-1)) >= -0.5) and columns[-1, -1] > columns[0, 0] + 10


@pytest.mark.parametrize("name, message", [("silent", "has no audio track"), ("short", "shorter than one second"),
                                           ("empty", "is empty")])
def test_decoding_a_bad_video_raises_one_line_naming_the_file(videos, name, message):
    with pytest.raises(ValueError, match=message) as error:
        decode.decode_video(videos[name])
    assert f"{name}.mp4" in str(error.value) and "\n" not in str(error.value)


def test_decoding_an_unreadable_zero_byte_or_missing_file_names_it(tmp_path):
    (tmp_path / "notes.mp4").write_text("not a video")
    (tmp_path / "zero.mp4").write_bytes(b"")
    for name in ("notes.mp4", "zero.mp4"):
        with pytest.raises(ValueError, match=f"{name}.*cannot be read as a video"):
            decode.decode_video(tmp_path / name)
    with pytest.raises(FileNotFoundError, match="gone.mp4"):
        decode.decode_video(tmp_path / "gone.mp4")


@pytest.mark.core  # keras.ops model code: also run on JAX in CI
def test_segment_maps_average_the_frames_of_each_segment_whatever_the_batch():
    class SumOfPixels:  # a stand-in for VGG-19: each map is filled with the frame's preprocessed mean
        def predict_on_batch(self, images):
            return np.broadcast_to(images.mean(axis=(1, 2, 3))[:, None, None, None], (len(images), 7, 7, 512))

    frames = np.random.default_rng(3).integers(0, 256, size=(3, 4, 224, 224, 3), dtype=np.uint8)
    flat = frames.reshape(-1, 224, 224, 3)
    small = visual.segment_maps(SumOfPixels(), iter(flat), frames_per_segment=4, batch_size=4)
    large = visual.segment_maps(SumOfPixels(), np.concatenate([flat, flat[:3]]), frames_per_segment=4)
    assert small.shape == large.shape == (3, 7, 7, 512)  # the 3 frames of an incomplete segment dropped
    np.testing.assert_allclose(small, large, rtol=1e-6)
    expected = np.stack([visual.keras.applications.vgg19.preprocess_input(frames[s].astype(np.float32)).mean()
                         for s in range(3)])
    np.testing.assert_allclose(small[:, 0, 0, 0], expected, rtol=1e-5)


def test_features_for_videos_give_t_by_128_audio_and_t_by_7x7x512_visual_per_video(videos, extractor):
    (audio2, visual2), (audio3, visual3) = features_for_videos([videos["two"], videos["three"]], extractor)
    assert audio2.shape == (2, 128) and visual2.shape == (2, 7, 7, 512)
    assert audio3.shape == (3, 128) and visual3.shape == (3, 7, 7, 512)
    assert audio2.dtype == visual2.dtype == np.float32 and np.all(visual2 >= 0)  # pool5 follows a ReLU


def test_writer_commits_whole_rows_and_drops_an_interrupted_append(tmp_path):
    rng = np.random.default_rng(4)
    rows = [(rng.normal(size=(3, 128)), rng.normal(size=(3, 7, 7, 512))) for _ in range(3)]
    with writer.FeatureWriter(tmp_path) as out:
        assert out.append(tmp_path / "a.mp4", *rows[0]) == 0
        assert out.append(tmp_path / "b.mp4", rows[1][0][:2].repeat(2, 0), rows[1][1][:2].repeat(2, 0)) == 1  # 4 s
        with pytest.raises(ValueError, match="c.mp4.*2 whole seconds.*T=3"):
            out.append(tmp_path / "c.mp4", rows[2][0][:2], rows[2][1][:2])
    with h5py.File(tmp_path / writer.VISUAL_FILE, "a") as handle:  # an append cut short before videos.txt
        handle[writer.KEY].resize(3, axis=0)
    with writer.FeatureWriter(tmp_path) as out:
        assert out.segments == 3 and tmp_path / "a.mp4" in out and tmp_path / "c.mp4" not in out
        assert out.append(tmp_path / "c.mp4", *rows[2]) == 2
    with h5py.File(tmp_path / writer.AUDIO_FILE) as a, h5py.File(tmp_path / writer.VISUAL_FILE) as v:
        assert a[writer.KEY].shape == (3, 3, 128) and v[writer.KEY].shape == (3, 3, 7, 7, 512)
        assert a[writer.KEY].dtype == np.float32
        np.testing.assert_allclose(v[writer.KEY][2], rows[2][1], rtol=1e-6)
    assert (tmp_path / writer.VIDEOS_FILE).read_text().split() == [str(tmp_path / n) for n in ("a.mp4", "b.mp4",
                                                                                                 "c.mp4")]
    with pytest.raises(ValueError, match="--segments=5.*T=3"):
        writer.FeatureWriter(tmp_path, segments=5)


def test_vgg19_loads_a_local_weights_file_in_the_layout_keras_downloads_and_names_a_foreign_one(tmp_path):
    import keras
    from keras.src.legacy.saving import legacy_h5_format

    reference = keras.applications.VGG19(include_top=False, weights=None, input_shape=(224, 224, 3))
    with h5py.File(tmp_path / "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5", "w") as handle:
        legacy_h5_format.save_weights_to_hdf5_group(handle, reference)  # the format of Keras' ImageNet file
    loaded = visual.vgg19_pool5(tmp_path / "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5")
    assert loaded.output_shape == (None, 7, 7, 512)
    for got, expected in zip(loaded.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(got, expected)
    with h5py.File(tmp_path / "other.h5", "w") as handle:
        handle["x"] = np.zeros(3)
    with pytest.raises(ValueError, match="other.h5' does not hold VGG-19"):
        visual.vgg19_pool5(tmp_path / "other.h5")
    with pytest.raises(FileNotFoundError, match="absent.h5"):
        visual.vgg19_pool5(tmp_path / "absent.h5")


def test_frames_are_yielded_one_at_a_time_and_stop_at_max_segments(videos):
    frames = decode.iter_frames(videos["three"], frames_per_segment=4, image_size=32, max_segments=2)
    assert next(frames).shape == (32, 32, 3)  # a generator: nothing decoded ahead of the consumer
    assert 1 + len(list(frames)) == 8


def video_frame_sample(frame_interval, video_length, sample_num):
    """AVE's frame picks, as in YapengTian/AVE-ECCV18 attention_visualization.py (lines 20-28)."""
    num = []
    for segment in range(video_length):
        for i in range(sample_num):
            num.append(int(segment * frame_interval + (i * 1.0 / sample_num) * frame_interval))
    return num


@pytest.mark.parametrize("count, segments, per_segment", [(250, 10, 16), (299, 10, 16), (300, 10, 16),
                                                          (251, 10, 16), (50, 2, 3), (33, 2, 16)])
def test_ave_frame_indices_are_aves_video_frame_sample_with_frame_interval_int_n_over_t(count, segments, per_segment):
    expected = video_frame_sample(int(count / segments), segments, per_segment)
    assert decode.ave_frame_indices("v.mp4", count, segments, per_segment) == expected


def test_ave_frame_indices_refuse_fewer_frames_than_f_per_segment_naming_the_file_and_flag():
    with pytest.raises(ValueError, match=r"'slow.mp4': 30 frames for T=2 segments.*--frames-per-segment=16"):
        decode.ave_frame_indices("slow.mp4", 30, 2, 16)


@pytest.mark.parametrize("height, width", [(240, 320), (360, 640), (720, 1280), (48, 64), (100, 150), (224, 224),
                                           (37, 411), (223, 225), (1, 1)])
def test_resize_linear_equals_opencv_inter_linear_to_the_grey_level(height, width):
    image = np.random.default_rng(height * width).integers(0, 256, (height, width, 3), dtype=np.uint8)
    got = resize.resize_linear(image, 224)
    difference = np.abs(got.astype(int) - cv2.resize(image, (224, 224), interpolation=cv2.INTER_LINEAR))
    assert got.shape == (224, 224, 3) and got.dtype == np.uint8
    assert difference.max() == 0  # measured: 0 on every size tried (float bilinear: up to 1)


@pytest.fixture(scope="module")
def lossless_clip(tmp_path_factory):
    """2 s of 25 fps numbered frames (every one different, moving) and 16 kHz stereo PCM, all decoded back
    exactly (FFV1 + PCM in Matroska)."""
    frames, samples = numbered_frames(50, size=(64, 48)), pcm_samples(2.0, 16000)
    path = write_lossless_video(tmp_path_factory.mktemp("lossless") / "clip.mkv", frames, samples, fps=25)
    return path, frames, samples


def test_ave_rule_decodes_aves_picks_full_size_and_resizes_them_as_opencv(lossless_clip):
    path, frames, _ = lossless_clip
    video = decode.decode_video(path, frames_per_segment=16, image_size=32)
    picks = video_frame_sample(int(50 / 2), 2, 16)
    assert video.frames.shape == (2, 16, 32, 32, 3)
    assert list(video.frames[..., 0, 0, 1].reshape(-1)) == picks  # green = the frame number
    expected = np.stack([cv2.resize(frames[i], (32, 32)) for i in picks]).reshape(video.frames.shape)
    np.testing.assert_array_equal(video.frames, expected)
    centre = decode.decode_video(path, frames_per_segment=16, image_size=32, frame_rule="centre")
    assert centre.frames.shape == video.frames.shape and not np.array_equal(centre.frames, video.frames)


def test_audio_is_cut_at_its_own_rate_into_seconds_each_resampled_by_resampy(tmp_path):
    import resampy

    samples = pcm_samples(3.0, 44100, seed=2)
    path = write_lossless_video(tmp_path / "cd.mkv", numbered_frames(75, (32, 32)), samples, fps=25, sample_rate=44100)
    mono = (samples / 32768.0).mean(axis=0)
    expected = np.concatenate([resampy.resample(mono[s * 44100:(s + 1) * 44100], 44100, 16000) for s in range(3)])
    got = decode.decode_audio(path)
    assert got.shape == (48000,)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    whole = resampy.resample(mono, 44100, 16000)[:48000]  # one pass over the track differs near the cuts
    assert np.abs(got - whole).max() > 1e-3


def test_extract_gives_the_2018_vggish_of_the_official_log_mel_and_aves_pooled_vgg19_frames(
        lossless_clip, slim_checkpoint, slim_tensors, tmp_path):
    """Issue 20's check: known 16 kHz PCM + moving frames -> audio equal to the official log-mel + 2018
    VGGish (ReLU) to 1e-3, none negative; visual equal to AVE's picks + INTER_LINEAR + block5_pool mean."""
    import keras
    from keras.src.legacy.saving import legacy_h5_format

    path, frames, samples = lossless_clip
    vgg19 = keras.applications.VGG19(include_top=False, weights=None, input_shape=(224, 224, 3))
    weights = tmp_path / "vgg19_notop.h5"
    with h5py.File(weights, "w") as handle:
        legacy_h5_format.save_weights_to_hdf5_group(handle, vgg19)
    out = tmp_path / "out"
    assert extract.main([str(path), "--out", str(out), "--vggish-checkpoint", str(slim_checkpoint),
                         "--vgg19-weights", str(weights), "--frames-per-segment", "4"]) == 0

    mono = (samples / 32768.0).mean(axis=0)  # vggish_input: int16 / 32768, the mean of the channels
    examples = np.stack([numpy_log_mel(mono[s * 16000:(s + 1) * 16000]) for s in range(2)])
    expected_audio, _ = numpy_vggish_2018(examples, slim_tensors)
    picks = video_frame_sample(int(len(frames) / 2), 2, 4)
    images = np.stack([cv2.resize(frames[i], (224, 224)) for i in picks]).astype(np.float32)
    maps = np.asarray(vgg19.predict_on_batch(keras.applications.vgg19.preprocess_input(images)))
    expected_visual = maps.reshape(2, 4, 7, 7, 512).mean(axis=1)
    with h5py.File(out / writer.AUDIO_FILE) as a, h5py.File(out / writer.VISUAL_FILE) as v:
        audio, visual = a[writer.KEY][0], v[writer.KEY][0]
        for handle in (a, v):
            assert dict(handle.attrs) == {"vggish_embedding": "relu", "frame_rule": "ave", "frames_per_segment": 4}
    assert audio.min() >= 0 and (audio > 0).mean() > 0.2
    np.testing.assert_allclose(audio, expected_audio, rtol=1e-3, atol=1e-3 * expected_audio.max())
    assert np.abs(visual - expected_visual).mean() / np.abs(expected_visual).mean() < 0.005
