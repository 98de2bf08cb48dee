"""``python -m fastebm`` (the README showcase): its table rows are the quantities they
name, and a small run of the whole tour lands within a few standard errors of every
exact value."""
from types import SimpleNamespace

import numpy as np
import pytest

import fastebm as fe
from fastebm import __main__ as showcase


def test_mcmc_rows_are_the_quantities_they_name():
    """The rows of an MCMC result against the same quantities computed directly: the
    mean of x[1] and of its squared deviation, their errors from the chain means, and
    their bulk ESS (the showcase writes both into one array for one ``fe.ess`` call)."""
    rng = np.random.default_rng(4)
    draws = rng.standard_normal((300, 40, 2)) * [1.0, 2.0] + [0.0, 1.0]
    result = SimpleNamespace(draws=draws, acceptance_rate=np.full(40, 0.5))
    exact = {"mean x[1]": 1.0, "var x[1]": 4.0}
    mean_row, var_row = showcase.mcmc_rows("mala", result, "t", exact, 0.1)
    x1 = draws[..., 1]
    squares = (x1 - x1.mean()) ** 2
    for row, y in ((mean_row, x1), (var_row, squares)):
        chain_means = y.mean(axis=0)
        assert row.estimate == pytest.approx(y.mean(), rel=1e-12)
        assert row.stderr == pytest.approx(chain_means.std(ddof=1) / np.sqrt(40), rel=1e-12)
        assert row.ess == fe.ess(y)
    assert mean_row.ess != var_row.ess  # two different columns, not one twice


@pytest.mark.statistical
def test_small_tour_is_within_a_few_standard_errors(monkeypatch, capsys, z_crit):
    """The whole tour at a tenth of its size (fixed seeds): every row's z = (estimate -
    exact) / se is small, and the table has all twelve rows; the exact values are
    independent of the run (E.log_partition(), the banana's closed forms, RBM
    enumeration). A 20 % error in one exact value (the Gaussian's var x[1]) gives
    z = 7.95 here."""
    for name, value in (("N_CHAINS", 100), ("BURN_IN", 300), ("N_STEPS", 300),
                        ("N_IMPORTANCE", 10_000)):
        monkeypatch.setattr(showcase, name, value)
    showcase.main()
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines()
            if line.split()[:1] and line.split()[0] in ("mala", "metropolis", "importance",
                                                        "gibbs", "ais")]
    assert len(rows) == 12
    for row in rows:
        z = float(row[row.index("±") + 3])  # estimate ± se exact z
        assert abs(z) < z_crit, row
