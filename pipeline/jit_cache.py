"""Keep UMAP's numba compilations on disk, so that a new process does not compile them again.

umap-learn compiles several of its functions without numba's ``cache=True`` (pynndescent caches
its own). Every worker or command process paid about 12 s for them on its first fit; with the
compiled code kept on disk (numba's cache: in ``NUMBA_CACHE_DIR`` if set, else beside umap's
sources, else in the user's cache folder, as in the image's worker), a later process loads it in
under a second; where none of them can be written, nothing changes. It is the same machine
code, so the results are the same.
"""

from __future__ import annotations

import sys

from numba.core.caching import NullCache
from numba.core.dispatcher import Dispatcher


def cache_umap_compilation() -> int:
    """Turn numba's disk cache on for the loaded umap modules' functions that lack it; returns
    how many were turned on (none on a second call)."""
    enabled = 0
    for name, module in list(sys.modules.items()):
        if name != "umap" and not name.startswith("umap."):
            continue
        for value in list(vars(module).values()):
            # numba keeps no public flag; a function compiled without cache=True has a NullCache
            if isinstance(value, Dispatcher) and isinstance(value._cache, NullCache):
                enabled += _enable(value)
    return enabled


def _enable(function: Dispatcher) -> int:
    try:
        function.enable_caching()
    except RuntimeError:  # no folder to write to: the function compiles in each process, as before
        return 0
    return 1
