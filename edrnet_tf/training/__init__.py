"""Training: the settings-to-model task shared by ``train``, ``tuning`` and ``experiments`` (``task``), one
run's orchestration (``runner``), its folder (``run_folder``), callbacks, distribution and flags."""
