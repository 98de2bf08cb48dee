"""The ziggurat tables as C source, and the full generator source for a CuPy RawModule.

Every double is written as an exact hexadecimal literal (``float.hex()``), so the device
reads the very bits of ``fastebm/_kernels/ziggurat_tables.py``.
"""
from pathlib import Path

from ..ziggurat_tables import ZIG_F, ZIG_R, ZIG_RATIO, ZIG_X

HEADER = Path(__file__).with_name("philox.cuh")


def _array(name, values):
    body = ",\n    ".join(float(v).hex() for v in values)
    return f"FASTEBM_TABLE double {name}[{len(values)}] = {{\n    {body}}};\n"


def tables_source():
    """C declarations of the ziggurat tables: ``__constant__`` under CUDA, else static."""
    return ("#ifndef FASTEBM_ZIGGURAT_TABLES\n#define FASTEBM_ZIGGURAT_TABLES\n"
            "#ifdef __CUDACC__\n#define FASTEBM_TABLE __constant__ const\n"
            "#else\n#define FASTEBM_TABLE static const\n#endif\n"
            f"#define FASTEBM_ZIG_R {float(ZIG_R).hex()}\n"
            + _array("FASTEBM_ZIG_X", ZIG_X) + _array("FASTEBM_ZIG_F", ZIG_F)
            + _array("FASTEBM_ZIG_RATIO", ZIG_RATIO) + "#endif\n")


def philox_source():
    """The tables followed by ``philox.cuh``: the source a RawModule compiles."""
    return tables_source() + HEADER.read_text()
