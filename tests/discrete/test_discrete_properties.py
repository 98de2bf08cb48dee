"""Property tests (TESTING.md): the discrete models' public functions raise only the
documented exceptions (TypeError, ValueError) on arbitrary shapes, dtypes and values."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import fastebm as fe

RBM = fe.BernoulliRBM(np.zeros((3, 2)), np.zeros(3), np.zeros(2))
GB = fe.GaussianBernoulliRBM(np.zeros((3, 2)), np.zeros(3), np.zeros(2), 1.0)
ISING = fe.Ising.lattice(2, 2, 0.3)

DTYPES = st.sampled_from([np.float64, np.float32, np.int64, np.bool_, np.complex128])
VALUES = st.sampled_from([0.0, 1.0, -1.0, 0.5, np.nan, np.inf])


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 3), dim=st.integers(0, 5), dtype=DTYPES, value=VALUES,
       n_steps=st.one_of(st.integers(-2, 3), st.floats(-1, 3)),
       thin=st.one_of(st.integers(-1, 3), st.just(None)))
def test_gibbs_and_energies_raise_only_documented_errors(n, dim, dtype, value, n_steps, thin):
    with np.errstate(invalid="ignore"):
        x = np.full((n, dim), value).astype(dtype)
    for model in (RBM, GB, ISING):
        calls = [lambda: fe.gibbs(model, x, n_steps, thin=1 if thin is None else thin, rng=0),
                 lambda: model.energy(x), lambda: model.grad_theta(x)]
        for call in calls:
            try:
                call()
            except (TypeError, ValueError):
                pass


@settings(max_examples=40, deadline=None)
@given(shape=st.tuples(st.integers(0, 3), st.integers(0, 3)), b_len=st.integers(0, 4),
       c_len=st.integers(0, 4), value=VALUES, sigma=st.one_of(VALUES, st.just(-1.0)))
def test_constructors_raise_only_documented_errors(shape, b_len, c_len, value, sigma):
    W = np.full(shape, value)
    for build in (lambda: fe.BernoulliRBM(W, np.zeros(b_len), np.zeros(c_len)),
                  lambda: fe.GaussianBernoulliRBM(W, np.zeros(b_len), np.zeros(c_len), sigma),
                  lambda: fe.Ising(np.full((b_len, b_len), value), np.zeros(c_len))):
        try:
            build()
        except (TypeError, ValueError):
            pass


@settings(max_examples=30, deadline=None)
@given(method=st.sampled_from(["cd", "pcd", "sgd"]), k=st.integers(-1, 2),
       lr=st.sampled_from([0.1, 0.0, -1.0, np.nan]), batch=st.integers(-1, 3),
       n_chains=st.integers(-1, 3), epochs=st.integers(-1, 2))
def test_fit_raises_only_documented_errors(method, k, lr, batch, n_chains, epochs):
    data = np.eye(3)[[0, 1, 2, 0]]
    try:
        fe.fit(RBM, data, method, k=k, learning_rate=lr, batch_size=batch, n_chains=n_chains,
               n_epochs=epochs, monitor=(), rng=0)
    except (TypeError, ValueError):
        pass


@settings(max_examples=30, deadline=None)
@given(n_chains=st.integers(-1, 3), n_temps=st.one_of(st.integers(-1, 4), st.just(None)),
       schedule=st.sampled_from(["linear", "sigmoid", "geometric", "adaptive", "bogus",
                                 (0.0, 1.0), (0.0, 0.5, 0.4, 1.0), (0.1, 1.0)]))
def test_ais_raises_only_documented_errors(n_chains, n_temps, schedule):
    for model, base in ((RBM, None), (RBM, np.eye(3)), (ISING, None), (ISING, np.eye(4))):
        try:
            fe.ais(model, base, n_chains, n_temps, schedule=schedule, rng=0)
        except (TypeError, ValueError):
            pass
