"""Serving: the SavedModel export (``export``), probabilities to events (``inference``), the event report page
(``event_report``) and the prediction of feature or video files (``predict``)."""
