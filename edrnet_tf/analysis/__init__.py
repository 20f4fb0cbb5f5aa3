"""Inspection of a trained model: the class activation maps of Fig. 8 (``cam``: ``keras.ops`` math), their
PNG strips (``cam_strip``: drawing) and the TensorBoard callback that logs them (``cam_callback``)."""
