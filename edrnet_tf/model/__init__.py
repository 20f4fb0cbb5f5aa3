"""The network and what trains and scores it: ``EDRNet`` (Eqs. 1-6), its layers, the SEL/WSEL objectives
(Eqs. 7-10), the segment metrics and B2ILC. Backend-agnostic: ``keras.ops`` only."""

from edrnet_tf.model.edrnet import EDRNet

__all__ = ["EDRNet"]
