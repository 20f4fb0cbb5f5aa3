"""``EDRNet``: the Event Decomposition Recomposition Network (paper Eqs. 1-6) as a Keras functional model."""

import keras

from edrnet_tf import ave
from edrnet_tf.config import EDRNetConfig
from edrnet_tf.model.layers import Conv1D, Conv1DTranspose, FoldSegments, GatedMix, PositionalEncoding, UnfoldSegments


@keras.saving.register_keras_serializable(package="edrnet_tf")
class EDRNet(keras.Model):
    """EDRNet for audio-visual event localization (Rao et al., AAAI 2022, Eqs. 1-6).

    Event Decomposition Phase: the visual map of each segment goes through a Conv2D (``"visual_conv"``)
    and global average pooling; the branches A (audio), V (visual) and AV (their concatenation) each
    add the sinusoidal positions of Eq. 1 and run ``L`` valid Conv1D layers of kernel ``k`` (Eq. 2),
    shortening the sequence by ``k - 1`` per layer. Event Recomposition Phase: A and V each run ``L``
    valid Conv1DTranspose layers (Eq. 3) fed with the decomposition outputs of the same length
    (``D_b^L + D_AV^L``, then ``R_b^(j-1) + D_b^(L-j+1) + D_AV^(L-j+1)``), back to length N. A sigmoid
    Conv1D gate over ``[R_A, R_V]`` (Eq. 4) mixes them into ``R_AV`` (Eq. 5), and one shared Dense(C)
    softmax head (Eq. 6) classifies ``R_AV``, ``R_A`` and ``R_V``.

    Input normalisation (``config.normalize_inputs``, not in the paper; docs/design.md): every audio channel
    and every visual channel (over segments and the 7x7 positions) is standardised by Keras
    ``Normalization`` layers whose mean and variance are set from the training split
    (``set_input_statistics``) and saved with the model, so it keeps taking raw AVE features. Without it
    the pooled visual features vary ~40x less than the positional encoding added to them (Eq. 1) and the
    visual branch learns nothing.
    ``input_negative_share`` (``{"audio": share, "visual": share}`` of the training split's values below 0, set
    with the statistics, kept in ``get_config``) is what the distribution guard of prediction
    (``serving.input_check``) needs beside the means and variances; None when unknown.

    Branch switches (``config.branches``, Table 4): without ``"AV"`` the recomposition gets no
    ``D_AV`` skips; without ``"A"`` (or ``"V"``) only the other recomposition branch exists, there is
    no gate, and ``"probs"``/``"features"`` are that branch's head and features.

    The time axis is left unknown, so the same model takes any ``N >= L * (k - 1) + 1`` segments.

    Args:
        config: an ``EDRNetConfig`` (or its ``to_dict()``).
        input_negative_share: the training split's share of negative audio and visual values (a dict), or None.

    Inputs: ``{"audio": [B, N, 128], "visual": [B, N, 7, 7, 512]}`` float32.
    Outputs: ``{"probs": [B, N, C], "probs_audio": [B, N, C] (iff "A"), "probs_visual": [B, N, C]
    (iff "V"), "features": [B, N, d]}``.

    Example:
    >>> model = EDRNet(EDRNetConfig(width=16, visual_width=8))
    >>> out = model({"audio": keras.ops.zeros((2, 10, 128)),
    ...              "visual": keras.ops.zeros((2, 10, 7, 7, 512))})
    >>> out["probs"].shape
    (2, 10, 29)
    """

    def __init__(self, config=None, input_negative_share=None, **kwargs):
        if config is None:
            config = EDRNetConfig()
        elif isinstance(config, dict):
            config = EDRNetConfig.from_dict(config)
        elif not isinstance(config, EDRNetConfig):
            raise ValueError(f"EDRNet(config=...) expects an EDRNetConfig or its dict, got {type(config).__name__}")
        k, n_layers, width = config.kernel_size, config.num_layers, config.width
        branches = set(config.branches)
        recompose = [b for b in ("A", "V") if b in branches]
        decompose = [b for b in ("A", "V", "AV") if b in branches]

        # === Layers ===
        # Only the inputs some active branch reads are normalised (an A-only model never reads the visual maps).
        self.normalizations = {}
        if config.normalize_inputs:
            for name, readers in (("audio", {"A", "AV"}), ("visual", {"V", "AV"})):
                if readers & branches:
                    self.normalizations[name] = keras.layers.Normalization(axis=-1, name=f"{name}_normalization")
        self.fold = FoldSegments(name="fold_segments")
        self.visual_conv = keras.layers.Conv2D(
            config.visual_width, config.visual_kernel_size, padding="same", activation="relu", name="visual_conv")
        self.visual_pool = keras.layers.GlobalAveragePooling2D(name="visual_pool")
        self.unfold = UnfoldSegments(name="unfold_segments")
        self.input_dropout = {name: keras.layers.Dropout(config.input_dropout, name=f"{name}_input_dropout")
                              for name in ("audio", "visual")}
        self.positions = {b: PositionalEncoding(scale=config.position_scale, name=f"position_{b}") for b in decompose}
        self.decompose = {
            b: [Conv1D(width, k, padding="valid", activation="relu", name=f"decompose_{b}_{l}")
                for l in range(1, n_layers + 1)]
            for b in decompose
        }
        self.decompose_dropout = {
            b: [keras.layers.Dropout(config.dropout, name=f"decompose_{b}_{l}_dropout") for l in range(1, n_layers + 1)]
            for b in decompose
        }
        self.recompose = {
            b: [Conv1DTranspose(width, k, padding="valid", name=f"recompose_{b}_{j}")
                for j in range(1, n_layers + 1)]
            for b in recompose
        }
        self.recompose_dropout = {
            b: [keras.layers.Dropout(config.dropout, name=f"recompose_{b}_{j}_dropout") for j in range(1, n_layers + 1)]
            for b in recompose
        }
        if len(recompose) == 2:
            self.gate = keras.layers.Conv1D(width, k, padding="same", activation="sigmoid", name="gate")
            self.gated_mix = GatedMix(name="gated_mix")
        # Eq. 6: one head shared by R_AV, R_A and R_V; float32 so mixed precision keeps a stable softmax.
        self.head = keras.layers.Dense(config.num_classes, activation="softmax", dtype="float32", name="head")

        # === Functional Model ===
        audio_input = keras.Input(shape=(None, ave.AUDIO_DIM), name="audio")
        visual_input = keras.Input(shape=(None, *ave.VISUAL_SHAPE), name="visual")
        audio = self.normalizations["audio"](audio_input) if "audio" in self.normalizations else audio_input
        visual_maps = self.normalizations["visual"](visual_input) if "visual" in self.normalizations else visual_input
        maps = self.visual_conv(self.fold(visual_maps))
        visual = self.unfold([self.visual_pool(maps), visual_input])
        audio, visual = self.input_dropout["audio"](audio), self.input_dropout["visual"](visual)
        initial = {"A": audio, "V": visual}
        if "AV" in branches:
            initial["AV"] = keras.layers.Concatenate(name="concat_AV")([audio, visual])
        decomposed = {}
        for b in decompose:
            x = self.positions[b](initial[b])
            decomposed[b] = []
            for conv, dropout in zip(self.decompose[b], self.decompose_dropout[b]):
                x = dropout(conv(x))
                decomposed[b].append(x)
        recomposed = {}
        for b in recompose:
            x = None
            for j, (conv, dropout) in enumerate(zip(self.recompose[b], self.recompose_dropout[b]), start=1):
                skips = [decomposed[b][n_layers - j]]  # D_b^(L-j+1): same length as R_b^(j-1)
                if "AV" in branches:
                    skips.append(decomposed["AV"][n_layers - j])
                terms = skips if x is None else [x] + skips
                x = terms[0] if len(terms) == 1 else keras.layers.Add(name=f"recompose_{b}_{j}_input")(terms)
                x = dropout(conv(x))
            recomposed[b] = x
        if len(recompose) == 2:
            gate = self.gate(keras.layers.Concatenate(name="concat_RA_RV")([recomposed["A"], recomposed["V"]]))
            features = self.gated_mix([gate, recomposed["A"], recomposed["V"]])
        else:
            features = recomposed[recompose[0]]
        outputs = {"probs": self.head(features)}
        if "A" in branches:
            outputs["probs_audio"] = self.head(recomposed["A"])
        if "V" in branches:
            outputs["probs_visual"] = self.head(recomposed["V"])
        outputs["features"] = features
        super().__init__(inputs={"audio": audio_input, "visual": visual_input}, outputs=outputs, **kwargs)

        # === Config ===
        self.config = config
        self.input_negative_share = input_negative_share

    def set_input_statistics(self, statistics):
        """Sets the input normalisation from an ``InputStatistics`` of the training split.

        Raises ``ValueError`` when the model was built with ``normalize_inputs=False``.
        """
        if not self.config.normalize_inputs:
            raise ValueError("EDRNet.set_input_statistics: this model has normalize_inputs=False; expected a "
                             "model built with input normalisation")
        moments = {"audio": (statistics.audio_mean, statistics.audio_variance),
                   "visual": (statistics.visual_mean, statistics.visual_variance)}
        for name, layer in self.normalizations.items():
            mean, variance = moments[name]
            layer.set_weights([mean, variance, layer.get_weights()[2]])
            layer.finalize_state()
        shares = {"audio": statistics.audio_negative_share, "visual": statistics.visual_negative_share}
        self.input_negative_share = shares if None not in shares.values() else None
        # Normalization reads its statistics as constants when a step function is traced: retrace.
        self.train_function = self.test_function = self.predict_function = None

    def get_config(self):
        return {"config": self.config.to_dict(), "input_negative_share": self.input_negative_share, "name": self.name,
                "trainable": self.trainable}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
