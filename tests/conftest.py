"""Shared test settings.

``FASTEBM_TEST_SEED`` overrides the fixed default seed of the statistical tests, so the
suite can be run over many seeds to measure its real failure rate (TESTING.md).
"""
import os

import numba
import numpy as np
import pytest

from tests.statistical.harness import Z_CRIT  # noqa: F401  (the one suite-wide threshold)

DEFAULT_SEED = 20261122


@pytest.fixture
def seed():
    return int(os.environ.get("FASTEBM_TEST_SEED", DEFAULT_SEED))


@pytest.fixture
def z_crit():
    return Z_CRIT


@pytest.fixture(autouse=True)
def _global_numpy_state_untouched():
    """No fastebm call may touch NumPy's global random state."""
    before = np.random.get_state()[1].copy()
    yield
    after = np.random.get_state()[1]
    assert np.array_equal(before, after), "NumPy's global random state was touched"


def pytest_collection_modifyitems(config, items):
    """With NUMBA_DISABLE_JIT=1 (the pure-Python path, for coverage) the deterministic
    suite runs; the statistical tests (tests/statistical/, and tests marked
    ``@pytest.mark.statistical`` elsewhere), millions of chain-steps each, are skipped."""
    if not numba.config.DISABLE_JIT:
        return
    skip = pytest.mark.skip(reason="statistical tests need the compiled kernels")
    for item in items:
        if "statistical" in item.nodeid.split("/") or item.get_closest_marker("statistical"):
            item.add_marker(skip)
