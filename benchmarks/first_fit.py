"""A new process's first model fit and transform, with and without UMAP's compilations on disk.

    python benchmarks/first_fit.py [--customers 2000] [--estimators 25]

Each case runs in a process of its own, with an empty numba cache folder (``NUMBA_CACHE_DIR``):
1. before: the cache not turned on for umap's functions (as before ``pipeline/jit_cache.py``),
   a first process then the next (pynndescent caches its own compilations: the next process
   loads those);
2. the cache turned on, first process: compiles and writes the cache;
3. the cache turned on, next process: loads the compiled code.
It prints the seconds of the import, of the fit and of a transform of 1,000 customers, and
whether the four cases placed every customer at the same point.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.forecast import machine  # noqa: E402

CASE = """
import hashlib, json, sys, time
started = time.perf_counter()
import pipeline.embed
if {baseline}:
    pipeline.embed.cache_umap_compilation = lambda: 0
from pipeline.segment import FEATURE_COLUMNS, SegmentationModel
from tests.unit.model_data import make_features
features = make_features({customers}, seed=1)
imported = time.perf_counter()
model = SegmentationModel(n_estimators={estimators}, random_state=5).fit(features)
sample = features.iloc[:1000][list(FEATURE_COLUMNS)].to_numpy(float)
fitted = time.perf_counter()
points = model.embedding_model_.transform(sample)
moved = time.perf_counter()
print(json.dumps({{
    "import": imported - started, "fit": fitted - imported, "transform": moved - fitted,
    "points": hashlib.md5(model.embedding_.tobytes() + points.tobytes()).hexdigest(),
}}))
"""


def run_case(cache_dir: Path, *, baseline: bool, customers: int, estimators: int) -> dict:
    code = CASE.format(baseline=baseline, customers=customers, estimators=estimators)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache_dir), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT,
                          capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"the case failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--estimators", type=int, default=25)
    args = parser.parse_args()
    print(f"machine: {machine()}; {args.customers} customers, {args.estimators} trees")
    sizes = {"customers": args.customers, "estimators": args.estimators}
    with tempfile.TemporaryDirectory() as baseline_dir, tempfile.TemporaryDirectory() as cache:
        cases = {
            "before, first process": run_case(Path(baseline_dir), baseline=True, **sizes),
            "before, next process": run_case(Path(baseline_dir), baseline=True, **sizes),
            "cache, first process": run_case(Path(cache), baseline=False, **sizes),
            "cache, next process": run_case(Path(cache), baseline=False, **sizes),
        }
    for name, figures in cases.items():
        print(f"{name:22} import {figures['import']:5.1f} s  fit {figures['fit']:5.1f} s"
              f"  transform {figures['transform']:5.1f} s")
    same = len({figures["points"] for figures in cases.values()}) == 1
    print(f"same points in the four cases: {same}")


if __name__ == "__main__":
    main()
