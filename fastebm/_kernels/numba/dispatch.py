"""One source per kernel, compiled twice over: cached for the built-in energies, and
specialised (uncached) to the functions of a user or composite energy.

A kernel entry point is written as a plain function whose body calls the generic
energy functions of ``energies`` (``energy_point``, ``energy_grad_point``, ``uses_blas``,
``blas_energy_grad``) as globals. ``@entry`` compiles it once with ``cache=True``: the
built-in energies reach their code through type dispatch. For any other energy,
``KernelFamily`` rebinds those four globals to the energy's own compiled
functions and compiles a private copy (Numba cannot cache a function whose code depends
on a Python object, so this copy is compiled once per energy family and process).
Energy functions are called only in entry-point bodies, never in shared helpers.

A user energy normally needs no private copy: its functions travel as first-class
function values in ``FunctionParams`` (``user_functions``), a built-in parameter type of
the cached kernels. Sums of energies, and user energies asked to (``specialize``), get
the private copies.

``@entry`` kernels are parallel loops; ``@block_entry`` kernels are serial over a share
of their blocks of chains and run by one thread per share (``_jit.over_blocks``, whose
docstring has the measured reason), specialised copies included.
"""
import types

from numba import njit
from numba.core.errors import TypingError

from ._jit import blas_limited, block_kernel, kernel, over_blocks, serial_jit
from .energies import uses_blas

ENERGY_FUNCTION_NAMES = ("energy_point", "energy_grad_point", "uses_blas", "blas_energy_grad")
_REGISTRY = {}


def entry(pyfunc):
    """Register ``pyfunc`` as a kernel entry point and return its cached compilation."""
    compiled = kernel(parallel=True)(pyfunc)
    _REGISTRY[pyfunc.__name__] = (pyfunc, compiled, False)
    return compiled


def block_entry(pyfunc):
    """``entry`` for a kernel ``pyfunc(*args, share, shares)`` over one share of its blocks
    of chains, called as ``kernel(*args)`` (``_jit.block_kernel``)."""
    compiled = block_kernel(pyfunc)
    _REGISTRY[pyfunc.__name__] = (pyfunc, compiled, True)
    return compiled


def _specialize(pyfunc, functions, blocked=None):
    """A private compilation of the entry point ``pyfunc`` with the globals ``functions``
    rebound; ``blocked`` (default: as registered) says whether it is a ``block_entry``."""
    if blocked is None:
        blocked = _REGISTRY[pyfunc.__name__][2] if pyfunc.__name__ in _REGISTRY else False
    scope = dict(pyfunc.__globals__)
    scope.update(functions)
    clone = types.FunctionType(pyfunc.__code__, scope, pyfunc.__name__,
                               pyfunc.__defaults__, pyfunc.__closure__)
    if blocked:
        return over_blocks(serial_jit(cache=False)(clone))
    return blas_limited(njit(parallel=True, nogil=True, error_model="numpy")(clone))


class KernelFamily:
    """The kernels of one family of energy functions; ``functions=None`` is the built-ins."""

    def __init__(self, functions=None):
        if functions is not None and set(functions) != set(ENERGY_FUNCTION_NAMES):
            raise ValueError(f"functions must define exactly {ENERGY_FUNCTION_NAMES}")
        self.functions = functions
        self._compiled = {}

    def uses_blas(self, params):
        """``uses_blas(params)`` of this family, asked from Python (its Python function:
        nothing is compiled), for the ``point_grad`` argument of the blocked kernels."""
        fn = self.functions["uses_blas"] if self.functions is not None else uses_blas
        return getattr(fn, "py_func", fn)(params)

    def __getitem__(self, name):
        pyfunc, compiled, blocked = _REGISTRY[name]
        if self.functions is None:
            return compiled
        if name not in self._compiled:
            self._compiled[name] = _checked(_specialize(pyfunc, self.functions, blocked))
        return self._compiled[name]


def _checked(dispatcher):
    """Turn Numba's typing failure of a user's function into a TypeError that says so."""
    def call(*args):
        try:
            return dispatcher(*args)
        except TypingError as exc:
            raise TypeError("the energy's functions could not be compiled by Numba (they must "
                            "be plain numeric functions of NumPy arrays and floats that Numba "
                            f"supports):\n{exc}") from None
    return call


BUILTIN = KernelFamily()
