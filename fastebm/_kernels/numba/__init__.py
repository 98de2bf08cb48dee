"""Numba kernels, one module per algorithm. Kernels take arrays and scalars and trust them.

How the fast kernels are written (measured in docs/performance.md, "Samplers"):

- One parallel region per call: ``prange`` over blocks of chains (``chain_block``), each
  thread running all the steps of its block. A block's state lives in arrays of its
  own thread, copied in once and written back once.
- No array views in a step loop (``x[i]``, ``xi[r]``, ``row[start:]``): each costs two
  atomic reference-count updates, contended across threads on shared arrays. Index
  rows instead (``x[r, j]``), and pass whole arrays with a row number.
- Helpers called per chain and step are inlined in Numba's IR (``helper(inline=True)``),
  since a plain helper's array arguments are reference-counted on entry. Helpers called
  once per block and step stay plain functions: inlining grows the parfor body, and
  Numba's parfor passes (copy propagation) with it, for no speed. Keep the step loop
  inside the ``prange`` body: moved into a plain function, the inlined helpers' array
  arguments are reference-counted again (1.2-2.2x slower).
- Random numbers for a block are drawn across its chains in one loop that vectorizes
  (``philox.fill_normals_rows``, ``philox.fill_first_uniforms``), with the same numbers
  as chain by chain; a loop vectorizes only if, when LLVM first sees it, it holds no
  call and no branch (``philox``'s docstring).
- Matrix products of a block go through BLAS, limited to one thread per call.
"""
