"""Restricted Boltzmann machines: Bernoulli-Bernoulli and Gaussian-Bernoulli.

An RBM is an energy over visible units v and hidden units h with no connections inside
a layer (seed 003, RBM slide; Hinton 2002). fastebm works with the marginal of the
visibles, p(v) = exp(-F(v)) / Z, where the free energy F sums the hidden units out, so
``energy(v)`` is F(v) and ``grad_theta(v)`` is ∇_θF(v): the likelihood gradient of
seed 000 is then mean ∇_θF(data) - E_p[∇_θF] (see ``fastebm.mle_gradient``).
A tempered model ``rbm.tempered(beta)`` is exp(-βE(v, h)), marginalized the same way.
"""
import numpy as np

from .._contract import GaussianBernoulliParams, RBMParams
from .._validation import as_float_array, discrete_points, result_dtype
from ..backend import CPU
from .base import Energy

MAX_ENUMERATED_UNITS = 25
MAX_EXPECTATION_UNITS = 20


def _softplus(x):
    return np.logaddexp(0.0, x)


def _sigmoid(x):
    """σ(x) = 1/(1 + e⁻ˣ), without overflow for large |x| (SciPy's ufunc: one pass, 10×
    faster than masking the two signs apart). Imported here: ``scipy.special`` is a
    tenth of a second of ``import fastebm``."""
    from scipy.special import expit
    return expit(x)


def binary_points(v, n, name):
    """0/1 data of shape (N, n) or (n,) → ((N, n) float64 array, was_single)."""
    return discrete_points(v, n, name, (0.0, 1.0), "be binary: every entry 0 or 1")


def _check_layers(W, b, c):
    W = as_float_array(W, "W", ndim=2)
    n_vis, n_hid = W.shape
    if n_vis == 0 or n_hid == 0:
        raise ValueError(f"W must have at least one visible and one hidden unit, got {W.shape}")
    b = as_float_array(b, "b", ndim=1)
    c = as_float_array(c, "c", ndim=1)
    if b.shape != (n_vis,):
        raise ValueError(f"b must have shape ({n_vis},) (one bias per visible unit, the rows of "
                         f"W), got {b.shape}")
    if c.shape != (n_hid,):
        raise ValueError(f"c must have shape ({n_hid},) (one bias per hidden unit, the columns "
                         f"of W), got {c.shape}")
    return W, b, c


class _RBM(Energy):
    """What both RBMs share: layers, θ = (vec W, b, c[, σ]), p(h | v), log-likelihood."""

    def _unpack(self, theta):
        theta = as_float_array(theta, "theta", ndim=1)
        if theta.shape != self.theta.shape:
            raise ValueError(f"theta must have shape {self.theta.shape}, got {theta.shape}")
        nv, nh = self.n_visible, self.n_hidden
        cut = np.cumsum([nv * nh, nv, nh])
        return theta[:cut[0]].reshape(nv, nh), theta[cut[0]:cut[1]], theta[cut[1]:cut[2]], theta[cut[2]:]

    def hidden_probabilities(self, v):
        """p(hⱼ = 1 | v) = σ(β(cⱼ + Σᵢ Wᵢⱼ vᵢ/σᵢ)) (σᵢ = 1 for Bernoulli visibles)."""
        pts, single = self._visible_points(v, "v")
        out = _sigmoid(self._beta * (self.c + (pts / self._visible_scale) @ self.W))
        return out[0] if single else out

    def _enumerate(self, A, bias_enum, bias_other, quadratic):
        if A.shape[0] > MAX_ENUMERATED_UNITS:
            raise ValueError(
                f"exact log Z enumerates 2^{A.shape[0]} states, more than the limit of "
                f"2^{MAX_ENUMERATED_UNITS}: estimate it with fastebm.ais(model, data, n_chains, "
                "n_temperatures) or fastebm.log_partition(model, method='ais')")
        return CPU.runners.rbm_enumerated_log_z(A, bias_enum, bias_other, quadratic)

    def _gibbs_form(self):
        """The model as block Gibbs kernels take it (``fastebm._contract.RBMParams``)."""
        return RBMParams(*self._gibbs_arrays())

    def log_likelihood(self, data, log_z):
        """Average log-likelihood mean(-F(v)) - log Z of ``data`` (N, V), with ``log_z``
        a float or an estimate with a ``log_z`` attribute (e.g. from AIS)."""
        log_z = float(getattr(log_z, "log_z", log_z))
        return float(np.mean(-self.energy(np.atleast_2d(data)))) - log_z

    _extra_theta = ()

    @property
    def theta(self):
        """θ = (W flattened row-major, b, c) and, for Gaussian visibles, σ."""
        return np.concatenate([self.W.ravel(), self.b, self.c, *self._extra_theta])


class BernoulliRBM(_RBM):
    """Bernoulli-Bernoulli RBM with weights W (V, H), visible biases b, hidden biases c.

    Parameters
    ----------
    W : array_like of shape (n_visible, n_hidden)
    b : array_like of shape (n_visible,)
    c : array_like of shape (n_hidden,)

    Notes
    -----
    E(v, h) = -vᵀb - hᵀc - vᵀWh on v ∈ {0,1}^V, h ∈ {0,1}^H (seed 003). Summing h out,

        F(v) = -vᵀb - Σⱼ softplus(cⱼ + (vᵀW)ⱼ),   softplus(a) = log(1 + eᵃ),

    computed as ``max(a, 0) + log1p(e^{-|a|})`` so that no weight overflows. The layers are
    conditionally independent: p(hⱼ=1|v) = σ(cⱼ + (vᵀW)ⱼ), p(vᵢ=1|h) = σ(bᵢ + (Wh)ᵢ).
    With sⱼ = p(hⱼ=1|v), the parameter gradient of the free energy is

        ∂F/∂Wᵢⱼ = -vᵢ sⱼ,   ∂F/∂bᵢ = -vᵢ,   ∂F/∂cⱼ = -sⱼ,

    so mean ∇_θF(data) - mean ∇_θF(model draws) is the Hebbian / anti-Hebbian update of
    seed 003 with its sign turned into a gradient of the negative log-likelihood. θ is
    (W flattened row-major, b, c). log Z is exact by enumerating the smaller layer (≤ 25
    units): log Z = log Σ_h exp(hᵀc) Πᵢ (1 + exp(bᵢ + (Wh)ᵢ)).
    """

    is_discrete = True
    _visible_scale = 1.0

    def __init__(self, W, b, c):
        self.W, self.b, self.c = _check_layers(W, b, c)
        self.n_visible, self.n_hidden = self.W.shape
        self.dim = self.n_visible

    def _visible_points(self, v, name):
        return binary_points(v, self.n_visible, name)

    def _saved_state(self):
        """The ``.npz`` entries: ``W`` (V, H), ``b`` (V,), ``c`` (H,), ``beta``."""
        return self._saved_as(BernoulliRBM, {"W": self.W, "b": self.b, "c": self.c,
                                             "beta": np.array(self._beta)})

    @classmethod
    def _from_saved(cls, entries):
        """The model of a file's entries (``fastebm.io``), checked by the constructor."""
        return cls(entries.array("W"), entries.array("b"), entries.array("c"))._at_beta(
            entries.scalar("beta"))

    def _points(self, x, name="x"):
        pts, single = binary_points(x, self.n_visible, name)
        return pts, single, result_dtype(x)

    def _kernel_params(self):
        raise TypeError("a Bernoulli RBM has binary visibles: sample it with fastebm.gibbs, "
                        "not with a gradient-based or random-walk sampler")

    # -- evaluation ----------------------------------------------------------------------
    def energy(self, v):
        """Free energy F(v) for v of shape (N, V) → (N,), or (V,) → float."""
        pts, single = binary_points(v, self.n_visible, "v")
        beta = self._beta
        out = -beta * (pts @ self.b) - _softplus(beta * (self.c + pts @ self.W)).sum(axis=1)
        return out[0] if single else out

    free_energy = energy

    def joint_energy(self, v, h):
        """E(v, h) = β(-vᵀb - hᵀc - vᵀWh) for matching batches of v (N, V) and h (N, H)."""
        v, single = binary_points(v, self.n_visible, "v")
        h, _ = binary_points(h, self.n_hidden, "h")
        if h.shape[0] != v.shape[0]:
            raise ValueError(f"v and h must hold as many points, got {v.shape[0]} and {h.shape[0]}")
        out = -self._beta * (v @ self.b + h @ self.c + np.einsum("ni,ij,nj->n", v, self.W, h))
        return out[0] if single else out

    def visible_probabilities(self, h):
        """p(vᵢ = 1 | h) = σ(β(bᵢ + (Wh)ᵢ)) for h of shape (N, H) or (H,)."""
        pts, single = binary_points(h, self.n_hidden, "h")
        out = _sigmoid(self._beta * (self.b + pts @ self.W.T))
        return out[0] if single else out

    def energy_and_grad(self, x):
        raise TypeError("a Bernoulli RBM has binary visibles: F(v) has no gradient in v "
                        "(use grad_theta for the parameter gradient)")

    def _grad_theta(self, v):
        s = _sigmoid(self._beta * (self.c + v @ self.W))
        outer = (v[:, :, None] * s[:, None, :]).reshape(v.shape[0], -1)
        return -self._beta * np.hstack([outer, v, s])

    def with_theta(self, theta):
        W, b, c, _ = self._unpack(theta)
        return BernoulliRBM(W, b, c).tempered(self._beta)

    # -- normalizer and scores -------------------------------------------------------------
    def log_partition(self):
        """Exact log Z by enumerating the smaller layer (at most 25 units)."""
        beta = self._beta
        if self.n_hidden <= self.n_visible:
            return self._enumerate(beta * self.W.T, beta * self.c, beta * self.b, False)
        return self._enumerate(beta * self.W, beta * self.b, beta * self.c, False)

    def expected_grad_theta(self):
        """E_p[∇_θF] exactly, by enumerating the visible states (at most 20 units): the
        negative phase of the exact likelihood gradient (``fe.exact_mle_gradient``).

        p(v) = exp(-F(v) - log Z) over all 2^V states, in chunks of 2¹⁴; the result is
        Σ_v p(v) ∇_θF(v) with ∇_θF of ``grad_theta``, summed in closed form
        (``_weighted_grad_theta``)."""
        if self.n_visible > MAX_EXPECTATION_UNITS:
            raise ValueError(f"the exact model expectation enumerates 2^{self.n_visible} "
                             f"visible states, more than 2^{MAX_EXPECTATION_UNITS}: estimate it "
                             "with fe.gibbs draws and fe.mle_gradient")
        log_z = self.log_partition()
        total = np.zeros(self.theta.size)
        n_states = 1 << self.n_visible
        bits = 1 << np.arange(self.n_visible - 1, -1, -1)
        for start in range(0, n_states, 1 << 14):
            index = np.arange(start, min(start + (1 << 14), n_states))
            v = ((index[:, None] & bits) > 0).astype(float)
            p = np.exp(-self.energy(v) - log_z)
            total += self._weighted_grad_theta(v, p)
        return total

    def _weighted_grad_theta(self, v, p):
        """Σₙ pₙ ∇_θF(vₙ) of points v (N, V), without the N gradients of ``_grad_theta``:
        with sₙ = σ(β(c + vₙᵀW)), the W block is -β Σₙ pₙ vₙ sₙᵀ = -β (p ⊙ v)ᵀ s, the b
        block -β Σₙ pₙ vₙ and the c block -β Σₙ pₙ sₙ."""
        s = _sigmoid(self._beta * (self.c + v @ self.W))
        weighted = v * p[:, None]
        return -self._beta * np.concatenate([(weighted.T @ s).ravel(), weighted.sum(axis=0),
                                             p @ s])

    def pseudo_log_likelihood(self, v):
        """Σᵢ log p(vᵢ | v₋ᵢ) per point (all V terms, not a one-bit estimate):
        log p(vᵢ | v₋ᵢ) = -softplus(F(v) - F(v with bit i flipped))."""
        pts, single = binary_points(v, self.n_visible, "v")
        f = self.energy(pts)
        total = np.zeros(pts.shape[0])
        for i in range(self.n_visible):
            flipped = pts.copy()
            flipped[:, i] = 1.0 - flipped[:, i]
            total -= _softplus(f - self.energy(flipped))
        return total[0] if single else total

    def reconstruction_error(self, v):
        """Mean squared error between v and its mean-field reconstruction
        p(v | h = p(h | v)), averaged over units and points (the usual training monitor)."""
        pts, _ = binary_points(v, self.n_visible, "v")
        hidden = _sigmoid(self._beta * (self.c + pts @ self.W))
        recon = _sigmoid(self._beta * (self.b + hidden @ self.W.T))
        return float(np.mean((pts - recon) ** 2))

    def base_rate_biases(self, data=None):
        """Visible biases b_A = logit((Σₙ vₙᵢ + 1)/(N + 2)) of the base-rate model of AIS
        (Salakhutdinov & Murray 2008), or zeros (uniform) when ``data`` is None."""
        if data is None:
            return np.zeros(self.n_visible)
        pts, _ = binary_points(data, self.n_visible, "base")
        p = (pts.sum(axis=0) + 1.0) / (pts.shape[0] + 2.0)
        return np.log(p) - np.log1p(-p)

    def _ais_form(self, base):
        """((RBMParams, base-rate biases b_A), log Z₀ = H log 2 + Σ softplus(b_A)): the AIS
        path from the base-rate model (Salakhutdinov & Murray 2008)."""
        b_base = self.base_rate_biases(base)
        form = (self._gibbs_form(), b_base)
        return form, self.n_hidden * np.log(2.0) + float(np.sum(_softplus(b_base)))

    def _gibbs_arrays(self):
        """(W for the hidden half, Wᵀ for the visible half, b, c, σ, Gaussian visibles?)."""
        beta = self._beta
        W = beta * self.W
        return W, np.ascontiguousarray(W.T), beta * self.b, beta * self.c, np.ones(self.n_visible), False


class GaussianBernoulliRBM(_RBM):
    """Gaussian-Bernoulli RBM: real visibles with standard deviations σ, binary hiddens.

    Parameters
    ----------
    W : array_like of shape (n_visible, n_hidden)
    b : array_like of shape (n_visible,)
    c : array_like of shape (n_hidden,)
    sigma : array_like of shape (n_visible,) or float
        Visible standard deviations σᵢ > 0.

    Notes
    -----
    The standard variant (Hinton 2010, "A practical guide to training RBMs", sec. 13.2;
    Krizhevsky 2009), not the v/σ² coupling of Cho et al. (2011):

        E(v, h) = Σᵢ (vᵢ - bᵢ)² / (2σᵢ²) - hᵀc - Σᵢⱼ (vᵢ/σᵢ) Wᵢⱼ hⱼ,

    so p(hⱼ=1|v) = σ(cⱼ + Σᵢ Wᵢⱼ vᵢ/σᵢ) and p(vᵢ|h) = N(bᵢ + σᵢ(Wh)ᵢ, σᵢ²). The free
    energy F(v) = Σᵢ (vᵢ-bᵢ)²/(2σᵢ²) - Σⱼ softplus(aⱼ), aⱼ = cⱼ + Σᵢ Wᵢⱼ vᵢ/σᵢ, is a
    smooth energy on Rⱽ: the gradient samplers accept it, with
    ∇ᵥF = (v-b)/σ² - (W s)/σ, sⱼ = σ(aⱼ). Parameter gradients (θ = (vec W, b, c, σ)):

        ∂F/∂Wᵢⱼ = -(vᵢ/σᵢ) sⱼ,  ∂F/∂bᵢ = -(vᵢ-bᵢ)/σᵢ²,  ∂F/∂cⱼ = -sⱼ,
        ∂F/∂σᵢ = -(vᵢ-bᵢ)²/σᵢ³ + (vᵢ/σᵢ²) Σⱼ Wᵢⱼ sⱼ.

    log Z integrates v out for each h (u = Wh): log Z = Σᵢ log(√(2π) σᵢ) +
    log Σ_h exp(hᵀc + Σᵢ (bᵢuᵢ/σᵢ + uᵢ²/2)), exact for up to 25 hidden units. A
    tempered model exp(-βE) has visibles N(b + σ(Wh), σ²/β).
    """

    is_discrete = False

    def __init__(self, W, b, c, sigma=1.0):
        self.W, self.b, self.c = _check_layers(W, b, c)
        self.n_visible, self.n_hidden = self.W.shape
        self.dim = self.n_visible
        sigma = as_float_array(np.broadcast_to(sigma, (self.n_visible,)) if np.ndim(sigma) == 0
                               else sigma, "sigma", ndim=1)
        if sigma.shape != (self.n_visible,) or not np.all(sigma > 0):
            raise ValueError(f"sigma must be a positive float or {self.n_visible} positive "
                             f"standard deviations, got shape {sigma.shape}")
        self.sigma = sigma
        self._visible_scale = sigma
        self._extra_theta = (sigma,)

    def _visible_points(self, v, name):
        pts, single, _ = Energy._points(self, v, name)
        return pts, single

    def _saved_state(self):
        """The ``.npz`` entries: ``W`` (V, H), ``b`` (V,), ``c`` (H,), ``sigma`` (V,),
        ``beta``."""
        return self._saved_as(GaussianBernoulliRBM, {"W": self.W, "b": self.b, "c": self.c,
                                                     "sigma": self.sigma,
                                                     "beta": np.array(self._beta)})

    @classmethod
    def _from_saved(cls, entries):
        """The model of a file's entries (``fastebm.io``), checked by the constructor."""
        return cls(entries.array("W"), entries.array("b"), entries.array("c"),
                   entries.array("sigma"))._at_beta(entries.scalar("beta"))

    def _kernel_params(self):
        return GaussianBernoulliParams(np.ascontiguousarray(self.W / self.sigma[:, None]),
                                       self.b, self.c, self.sigma, self._beta)

    def _grad_theta(self, v):
        beta, sig = self._beta, self.sigma
        s = _sigmoid(beta * (self.c + (v / sig) @ self.W))
        outer = ((v / sig)[:, :, None] * s[:, None, :]).reshape(v.shape[0], -1)
        r = v - self.b
        d_sigma = -r * r / sig ** 3 + (v / sig ** 2) * (s @ self.W.T)
        return beta * np.hstack([-outer, -r / sig ** 2, -s, d_sigma])

    def with_theta(self, theta):
        W, b, c, sigma = self._unpack(theta)
        return GaussianBernoulliRBM(W, b, c, sigma).tempered(self._beta)

    def log_partition(self):
        """Exact log Z, integrating the visibles out and enumerating ≤ 25 hidden units."""
        beta, root = self._beta, np.sqrt(self._beta)
        gauss = np.sum(0.5 * np.log(2.0 * np.pi) + np.log(self.sigma) - 0.5 * np.log(beta))
        return gauss + self._enumerate(root * self.W.T, beta * self.c, root * self.b / self.sigma,
                                       True)

    def _ais_form(self, base):
        """((RBMParams, b), log Z₀): AIS annealing the interaction from β = 0, where
        v ~ N(b, σ²) and h is uniform: log Z₀ = H log 2 + Σᵢ log(√(2π) σᵢ) (tempered:
        σ/√β)."""
        if base is not None:
            raise ValueError("a Gaussian-Bernoulli RBM anneals from N(b, σ²) × uniform h: "
                             "base must be None")
        form = self._gibbs_form()
        log_z0 = self.n_hidden * np.log(2.0) + float(np.sum(0.5 * np.log(2.0 * np.pi)
                                                            + np.log(form.sigma)))
        return (form, form.b), log_z0

    def visible_mean(self, h):
        """E[v | h] = b + σ ⊙ (Wh) for h of shape (N, H) or (H,)."""
        pts, single = binary_points(h, self.n_hidden, "h")
        out = self.b + self.sigma * (pts @ self.W.T)
        return out[0] if single else out

    def _gibbs_arrays(self):
        beta, root = self._beta, np.sqrt(self._beta)
        W_hidden = beta * self.W / self.sigma[:, None]
        return (W_hidden, np.ascontiguousarray(root * self.W.T), self.b, beta * self.c,
                self.sigma / root, True)

