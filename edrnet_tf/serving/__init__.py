"""Serving: the SavedModel export (``export``), probabilities to events (``inference``) and the prediction
of feature or video files (``predict``)."""
