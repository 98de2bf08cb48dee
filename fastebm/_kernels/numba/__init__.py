"""Numba kernels, one module per algorithm. Kernels take arrays and scalars and trust them.

How the fast kernels are written (measured in docs/performance.md, "Samplers"):

- One parallel region per call: ``prange`` over blocks of chains (``chain_block``), each
  thread running all the steps of its block; or, for the samplers' step kernels
  (``dispatch.block_entry``: Langevin, random walk, continuous AIS, the batched energies)
  and RBM Gibbs, AIS and log Z (``_jit.block_kernel``), a serial ``nogil`` kernel over
  one share of the blocks, run by one Python thread per share, which compiles in a
  fraction of a parallel loop's time (``_jit``'s docstring). A block's state lives in
  arrays of its own thread, copied in once and written back once (by index:
  ``chains.store_rows``; a slice assignment compiles Numba's string formatting).
- No array views in a step loop (``x[i]``, ``xi[r]``, ``row[start:]``): each costs two
  atomic reference-count updates, contended across threads on shared arrays. Index
  rows instead (``x[r, j]``), and pass whole arrays with a row number.
- Helpers called per chain and step are inlined in Numba's IR (``helper(inline=True)``),
  since a plain helper's array arguments are reference-counted on entry. Helpers called
  once per block and step stay plain functions: inlining grows the parfor body, and
  Numba's parfor passes (copy propagation) with it, for no speed. A step loop outside
  a ``prange`` body needs ``_jit.serial_jit``'s copy propagation: without it the inlined
  helpers' array arguments are reference-counted again (3.7x slower on the banana).
- Random numbers for a block are drawn across its chains in one loop that vectorizes
  (``philox.fill_normals_rows``, ``philox.fill_first_uniforms``), with the same numbers
  as chain by chain; a loop vectorizes only if, when LLVM first sees it, it holds no
  call and no branch (``philox``'s docstring).
- Matrix products of a block go through BLAS, limited to one thread per call.
"""
