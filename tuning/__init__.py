"""Keras Tuner searches over EDRNet's k, L, d, SMB S, learning rate and lambda2 (the paper's Fig. 7).

``tuning.studies`` declares the search spaces, ``tuning.hypermodel.EDRNetHyperModel`` builds and trains a
trial as ``python -m edrnet_tf.train`` does, ``tuning.results`` writes a study's CSV, Markdown table and
plot, and ``python -m tuning.sweep`` runs a study (locally or distributed).
"""
