"""The builder test's fixtures: the shared synthetic AVE set of tests/conftest.py (written and built once)."""

from tests.conftest import _synthetic_built, built_ave, synthetic_ave_dir  # noqa: F401
