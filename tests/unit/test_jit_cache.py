"""UMAP's numba compilations are kept on disk: a second process loads them instead of compiling
again, and embeds the same customers to the same points."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pipeline.jit_cache import cache_umap_compilation

ROOT = Path(__file__).resolve().parents[2]

# fits and transforms in a new process; prints how many of umap's compilations were loaded from
# the cache and how many compiled, after the import (a few functions compile as umap is imported,
# before any cache can be turned on) and after the fit and transform
FIT = """
import json, sys
from numba.core.dispatcher import Dispatcher
import umap

def counts():
    hits = misses = 0
    for name, module in list(sys.modules.items()):
        if name == "umap" or name.startswith("umap."):
            for value in vars(module).values():
                if isinstance(value, Dispatcher):
                    hits += sum(value.stats.cache_hits.values())
                    misses += sum(value.stats.cache_misses.values())
    return {"hits": hits, "misses": misses}

imported = counts()
from pipeline.embed import LeafEmbedding
from tests.unit.model_data import make_features

features = make_features(120, seed=3).to_numpy(dtype=float)
embedding = LeafEmbedding(n_estimators=10, random_state=1, n_jobs=1).fit(features)
moved = embedding.transform(features[:20])
points = embedding.embedding_.tolist() + moved.tolist()
print(json.dumps({"imported": imported, "fitted": counts(), "points": points}))
"""


def _fit_in_a_new_process(cache_dir: Path) -> dict:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache_dir), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", FIT], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_second_process_loads_umap_compiled_and_embeds_the_same(tmp_path) -> None:
    first = _fit_in_a_new_process(tmp_path)
    second = _fit_in_a_new_process(tmp_path)
    # the first process compiles in its fit and transform, and writes the code to the cache
    assert first["fitted"]["misses"] > first["imported"]["misses"]
    assert first["fitted"]["hits"] == 0
    # the second loads it: its fit and transform compile nothing
    assert second["fitted"]["misses"] == second["imported"]["misses"]
    assert second["fitted"]["hits"] > 0
    assert second["points"] == first["points"]


def test_turning_the_cache_on_twice_changes_nothing_the_second_time() -> None:
    import umap  # noqa: F401  (its modules are those whose functions get the cache)

    cache_umap_compilation()
    assert cache_umap_compilation() == 0


def test_where_no_folder_can_be_written_the_function_compiles_as_before(monkeypatch) -> None:
    import types

    import numba
    from numba.core.caching import CacheImpl, NullCache

    module = types.ModuleType("umap.no_cache_folder")
    module.twice = numba.njit(lambda x: 2 * x)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(CacheImpl, "_locator_classes", [])  # numba finds nowhere to write

    assert cache_umap_compilation() == 0
    assert isinstance(module.twice._cache, NullCache)
    assert module.twice(21) == 42
