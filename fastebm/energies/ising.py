"""Ising models (fully visible Boltzmann machines) on spins s ∈ {-1, +1}ⁿ.

    fe.Ising(J, h)                                  # dense symmetric couplings
    fe.Ising.lattice(L, M, coupling, field=0.0)     # periodic L × M nearest-neighbour lattice

p(s) = exp(-E(s)) / Z with E(s) = -Σ_{i<j} Jᵢⱼ sᵢ sⱼ - Σᵢ hᵢ sᵢ: the Gibbs distribution
of seed 003 (eq. p_θ(x) = exp(-E_θ(x)) / Z_θ) on a discrete state space, where Z is a
sum over 2ⁿ states. Sample with ``fe.gibbs`` (checkerboard sweeps on even lattices,
sequential single-site heat-bath sweeps otherwise); log Z is exact by enumeration up to
25 spins, and estimated by AIS from β = 0 beyond (``fe.ais(model, None, n_chains,
n_temperatures)``). ``model.tempered(beta)`` is exp(-βE): β multiplies J and h (or the
lattice's coupling and field) everywhere.
"""
import numpy as np

from .._contract import IsingDenseParams, IsingLatticeParams
from .._validation import as_float_array, discrete_points, int_at_least, result_dtype
from ..backend import CPU
from .base import Energy

MAX_ENUMERATED_SPINS = 25


def spin_points(x, n, name):
    """±1 spins of shape (N, n) or (n,) → ((N, n) float64 array, was_single)."""
    return discrete_points(x, n, name, (-1.0, 1.0),
                           "hold spins: every entry -1 or +1 (for 0/1 data use 2 * x - 1)")


def _finite_float(value, name):
    return float(as_float_array(value, name, ndim=0).item())


def lattice_couplings(L, M, coupling):
    """Dense J of the periodic L × M lattice: coupling per bond (site, right neighbour) and
    (site, down neighbour), site index i·M + j; a size-2 dimension doubles its bonds."""
    idx = np.arange(L * M).reshape(L, M)
    J = np.zeros((L * M, L * M))
    for other in (np.roll(idx, -1, axis=1), np.roll(idx, -1, axis=0)):
        np.add.at(J, (idx.ravel(), other.ravel()), coupling)
        np.add.at(J, (other.ravel(), idx.ravel()), coupling)
    return J


class Ising(Energy):
    """Ising model / fully visible Boltzmann machine with couplings J and fields h.

    Parameters
    ----------
    J : array_like of shape (n, n)
        Symmetric couplings with a zero diagonal.
    h : array_like of shape (n,)
        External fields.

    Attributes
    ----------
    n_spins : int
    lattice_shape : tuple (L, M) or None
        Set by ``Ising.lattice``; the samplers then use the neighbour structure and never
        build J.
    coupling, field : float or None
        The lattice's coupling and field.
    sweep : {"checkerboard", "sequential"}
        The Gibbs sweep ``fe.gibbs`` runs: checkerboard on a lattice with L and M even,
        sequential single-site (sites 0..n-1) otherwise.

    Notes
    -----
    E(s) = -Σ_{i<j} Jᵢⱼ sᵢ sⱼ - Σᵢ hᵢ sᵢ = -½ sᵀJs - hᵀs on s ∈ {-1, +1}ⁿ (Ackley, Hinton
    & Sejnowski 1985; the Gibbs distribution of seed 003). With gᵢ = Σⱼ Jᵢⱼ sⱼ, flipping
    spin i changes E by 2sᵢ(gᵢ + hᵢ), so the heat-bath conditional is

        p(sᵢ = +1 | s₋ᵢ) = σ(2(gᵢ + hᵢ))                   (Geman & Geman 1984).

    θ = (the strict upper triangle of J row-major, h), and

        ∂E/∂Jᵢⱼ = -sᵢ sⱼ (i < j),   ∂E/∂hᵢ = -sᵢ,

    both times β for a tempered model. log Z = log Σ_s exp(½ sᵀJs + hᵀs) is exact by a
    Gray-code enumeration for n ≤ 25.

    References
    ----------
    Seed 003 (the Gibbs distribution p = exp(-E)/Z). Ackley, Hinton & Sejnowski (1985), "A
    learning algorithm for Boltzmann machines", Cognitive Science 9. Geman & Geman (1984),
    "Stochastic relaxation, Gibbs distributions, and the Bayesian restoration of images".
    """

    is_discrete = True

    def __init__(self, J, h):
        J = as_float_array(J, "J", ndim=2)
        n = J.shape[0]
        if J.shape != (n, n) or n == 0:
            raise ValueError(f"J must be a non-empty square matrix, got shape {J.shape}")
        if np.any(np.diag(J) != 0.0):
            raise ValueError("J must have a zero diagonal (sᵢ² = 1 makes it a constant)")
        if np.any(np.abs(J - J.T) > 1e-12 * max(1.0, float(np.abs(J).max()))):
            raise ValueError("J must be symmetric")
        h = as_float_array(h, "h", ndim=1)
        if h.shape != (n,):
            raise ValueError(f"h must have shape ({n},) (one field per row of J), got {h.shape}")
        self._J, self.h = 0.5 * (J + J.T), h
        self.n_spins = self.dim = n
        self.lattice_shape = self.coupling = self.field = None

    @classmethod
    def lattice(cls, L, M, coupling, field=0.0):
        """Periodic L × M lattice: E(s) = -coupling Σ_⟨ij⟩ sᵢsⱼ - field Σᵢ sᵢ.

        Parameters
        ----------
        L, M : int
            Rows and columns (each ≥ 2); site (i, j) has index i·M + j.
        coupling, field : float
            Ferromagnetic for coupling > 0.

        Notes
        -----
        ⟨ij⟩ runs over the 2·L·M bonds (site, right neighbour) and (site, down neighbour)
        with periodic wrap, so each site has four neighbour slots. With L = 2 (or M = 2)
        the up and down (left and right) neighbours are the same site, whose bond is then
        counted twice: Jᵢⱼ = 2·coupling, as in the dense ``J`` of this model, its energy,
        its sweeps and its enumeration. The square lattice's critical coupling is
        log(1 + √2)/2 ≈ 0.4407 (Onsager 1944).
        """
        L = int_at_least(L, "L", 2)
        M = int_at_least(M, "M", 2)
        model = cls.__new__(cls)
        model.coupling = _finite_float(coupling, "coupling")
        model.field = _finite_float(field, "field")
        model.lattice_shape = (L, M)
        model.n_spins = model.dim = L * M
        model._J, model.h = None, np.full(L * M, model.field)
        return model

    def __getstate__(self):
        """Pickled without a lattice's dense J, a cache of (L·M)² entries built again
        on first use."""
        state = super().__getstate__()
        if self.lattice_shape is not None:
            state["_J"] = None
        return state

    def _saved_state(self):
        """The ``.npz`` entries: ``J`` (n, n) and ``h`` (n,), or a lattice's
        ``lattice_shape`` (2,), ``coupling`` and ``field``; and ``beta``."""
        if self.lattice_shape is None:
            arrays = {"J": self._J, "h": self.h}
        else:
            arrays = {"lattice_shape": np.array(self.lattice_shape), "coupling":
                      np.array(self.coupling), "field": np.array(self.field)}
        return self._saved_as(Ising, {**arrays, "beta": np.array(self._beta)})

    @classmethod
    def _from_saved(cls, entries):
        """The model of a file's entries (``fastebm.io``), checked by the constructors."""
        if "lattice_shape" in entries:
            L, M = entries.integers("lattice_shape", (2,))
            model = cls.lattice(L, M, entries.scalar("coupling"), entries.scalar("field"))
        else:
            model = cls(entries.array("J"), entries.array("h"))
        return model._at_beta(entries.scalar("beta"))

    @property
    def J(self):
        """The dense couplings (n, n); built on first use for a lattice."""
        if self._J is None:
            self._J = lattice_couplings(*self.lattice_shape, self.coupling)
        return self._J

    @property
    def sweep(self):
        """"checkerboard" (a lattice with L and M even) or "sequential": what fe.gibbs runs."""
        if self.lattice_shape is not None and all(k % 2 == 0 for k in self.lattice_shape):
            return "checkerboard"
        return "sequential"

    def _points(self, x, name="x"):
        pts, single = spin_points(x, self.n_spins, name)
        return pts, single, result_dtype(x)

    def _kernel_params(self):
        raise TypeError("an Ising model has ±1 spins: sample it with fastebm.gibbs, not with "
                        "a gradient-based or random-walk sampler")

    # -- evaluation ------------------------------------------------------------------------
    def energy(self, s):
        """E(s) for spins of shape (N, n) → (N,), or (n,) → float."""
        pts, single = spin_points(s, self.n_spins, "s")
        if self.lattice_shape is None:
            out = -(0.5 * np.einsum("ni,ni->n", pts @ self._J, pts) + pts @ self.h)
        else:
            grid = pts.reshape(-1, *self.lattice_shape)
            bonds = grid * (np.roll(grid, -1, axis=2) + np.roll(grid, -1, axis=1))
            out = -(self.coupling * bonds.sum(axis=(1, 2)) + self.field * pts.sum(axis=1))
        out = self._beta * out
        return out[0] if single else out

    def magnetization(self, s):
        """Mean spin (1/n) Σᵢ sᵢ per point: (N, n) → (N,), or (n,) → float."""
        pts, single = spin_points(s, self.n_spins, "s")
        out = pts.mean(axis=1)
        return out[0] if single else out

    def energy_and_grad(self, x):
        raise TypeError("an Ising model has ±1 spins: E(s) has no gradient in s (use "
                        "grad_theta for the parameter gradient)")

    # -- parameters ------------------------------------------------------------------------
    @property
    def theta(self):
        """θ = (Jᵢⱼ for i < j, row-major; h), shape (n(n-1)/2 + n,)."""
        return np.concatenate([self.J[np.triu_indices(self.n_spins, 1)], self.h])

    def _grad_theta(self, s):
        upper, lower = np.triu_indices(self.n_spins, 1)
        return -self._beta * np.hstack([s[:, upper] * s[:, lower], s])

    def with_theta(self, theta):
        """A dense ``Ising`` with parameters θ (a lattice's θ gives its dense J)."""
        theta = as_float_array(theta, "theta", ndim=1)
        n = self.n_spins
        if theta.shape != (n * (n - 1) // 2 + n,):
            raise ValueError(f"theta must have shape ({n * (n - 1) // 2 + n},), got {theta.shape}")
        J = np.zeros((n, n))
        J[np.triu_indices(n, 1)] = theta[:-n]
        return Ising(J + J.T, theta[-n:]).tempered(self._beta)

    # -- normalizer ------------------------------------------------------------------------
    def log_partition(self):
        """Exact log Z = log Σ_s exp(-βE(s)) by Gray-code enumeration (n ≤ 25 spins)."""
        if self.n_spins > MAX_ENUMERATED_SPINS:
            raise ValueError(
                f"exact log Z enumerates 2^{self.n_spins} states, more than the limit of "
                f"2^{MAX_ENUMERATED_SPINS}: estimate it with fastebm.ais(model, None, n_chains, "
                "n_temperatures) or fastebm.log_partition(model, method='ais')")
        beta = self._beta
        return CPU.runners.ising_enumerated_log_z(beta * self.J, beta * self.h)

    # -- samplers --------------------------------------------------------------------------
    def _gibbs_form(self):
        """The model as the Gibbs kernels take it, β included: ``IsingDenseParams`` or
        ``IsingLatticeParams`` (``fastebm._contract``)."""
        beta = self._beta
        if self.lattice_shape is None:
            return IsingDenseParams(beta * self._J, beta * self.h)
        L, M = self.lattice_shape
        return IsingLatticeParams(L, M, beta * self.coupling, beta * self.field,
                                  self.sweep == "checkerboard")

    def _ais_form(self, base):
        """(Gibbs form, log Z₀ = n log 2): AIS along exp(-β_k E) from uniform spins."""
        if base is not None:
            raise ValueError("base must be None for an Ising model: AIS starts at β = 0 from "
                             "uniform spins (Z₀ = 2ⁿ)")
        return self._gibbs_form(), self.n_spins * np.log(2.0)
