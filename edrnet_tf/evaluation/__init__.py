"""Figures of trained runs: the test report (``report``), per-class run comparisons (``compare``), the
paper's Tables 3 and 4 (``experiments``) and the baselines every accuracy is read beside (``baselines``)."""
