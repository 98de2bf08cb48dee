"""Where fastebm keeps what it builds: ``$FASTEBM_CACHE_DIR``, else the user cache
directory, ``$XDG_CACHE_HOME/fastebm`` (``~/.cache/fastebm`` without it).

The host builds of the CUDA sources go to ``cuda-host/`` and a user energy's compiled
functions to ``user-functions/``. Everything there is rebuilt when missing, so the
directory can be deleted at any time.
"""
import os
import tempfile
from pathlib import Path


def writable_cache_dir(name):
    """``<cache root>/name``, created if need be, or None where it cannot be written
    (a read-only home, a sandbox)."""
    env = os.environ.get("FASTEBM_CACHE_DIR")
    root = (Path(env) if env else
            Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "fastebm")
    path = root / name
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path):
            pass
    except OSError:
        return None
    return path
