"""Pipeline figures: a cold `insiders segment` (+ report), stage by stage, against a plain
re-implementation of the original notebook measured in the same run.

    python benchmarks/pipeline.py [--scale 20] [--skip-real] [--skip-large] [--skip-original-large]

Each measurement runs in a fresh Python process (cold: imports and numba compilation included),
stage times and peak resident memory per stage come from inside that process. Data: the real set
from INSIDERS_REAL_DATA and a synthetic set ``--scale`` times as many customers (written to a
temporary directory with pipeline.synthetic.write_synthetic). Prints the machine and tables.
Above ``SegmentationModel.max_fit_customers`` ours fits on a sample and scores the rest; its
"embed" stage includes that scoring.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REAL_CUSTOMERS = 5695
NOTEBOOK_K = range(2, 25)  # the notebook's model-selection range
EXCLUDED_CODES = ["POST", "D", "DOT", "M", "S", "AMAZONFEE", "m", "DCGSSBOY", "DCGSSGIRL",
                  "PADS", "B", "CRUK"]  # fmt: skip


class StageMeter:
    """Seconds and peak resident memory (sampled from /proc every 10 ms) per stage."""

    def __init__(self) -> None:
        self.stages: dict[str, dict[str, float]] = {}
        self._peak = 0
        self._stop = threading.Event()
        threading.Thread(target=self._sample, daemon=True).start()

    @staticmethod
    def rss() -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self._peak = max(self._peak, self.rss())

    @contextmanager
    def stage(self, name: str):
        self._peak = self.rss()
        started = time.perf_counter()
        yield
        seconds = time.perf_counter() - started
        self._peak = max(self._peak, self.rss())
        self.stages[name] = {"seconds": round(seconds, 2), "peak_mb": round(self._peak / 2**20)}


# ------------------------------------------------------------------ ours (cold process)


def run_ours(path: str, meter: StageMeter) -> dict:
    from pipeline.clean import load_profile
    from pipeline.ingest import read_transactions
    from pipeline.run import run_segmentation

    with meter.stage("ingest"):
        ingested = read_transactions(path)
    with meter.stage("segment"):
        result = run_segmentation(ingested.transactions, profile=load_profile("online-retail"),
                                  random_state=42)
    # split the run into its stages with the run's and the model's own timings
    both = meter.stages.pop("segment")
    seconds = dict(result.metrics["seconds"])
    model = result.state.model
    seconds.pop("fit")
    seconds = {"clean": seconds.pop("clean"), "features": seconds.pop("features"),
               **model.fit_seconds_, **seconds}
    for stage, value in seconds.items():
        meter.stages[stage] = {"seconds": round(value, 2), "peak_mb": both["peak_mb"]}
    metrics = result.metrics
    return {"n_customers": metrics["n_customers"], "n_insiders": metrics["n_insiders"],
            "insiders_share": metrics["insiders_share"],
            "insiders_revenue_share": metrics["revenue_share"],
            "silhouette": metrics["silhouette"], "fit_customers": int(model.fit_sample_.sum())}


# ------------------------------------------------------------------ the original notebook


def run_original(path: str, meter: StageMeter, *, selection: bool) -> dict:
    """The notebook's steps as written there: pandas cleaning, one merge per feature,
    MinMaxScaler, RandomForest leaves, UMAP (default NNDescent), model selection, GMM k=7."""
    import numpy as np
    import pandas as pd

    with meter.stage("ingest"):
        df = pd.read_parquet(path)
        df.columns = ["invoice_no", "stock_code", "description", "quantity", "invoice_date",
                      "unit_price", "customer_id", "country"]  # fmt: skip
    with meter.stage("clean"):
        df1 = _original_clean(df, pd, np)
    with meter.stage("features"):
        df_ref = _original_features(df1, pd)
    with meter.stage("embed"):
        embedding = _original_embedding(df_ref, np)
    if selection:
        with meter.stage("select"):
            _original_selection(embedding, np)
    with meter.stage("cluster"):
        from sklearn import metrics, mixture

        gmm = mixture.GaussianMixture(n_components=7, n_init=10, random_state=32).fit(embedding)
        labels = gmm.predict(embedding)
        score = metrics.silhouette_score(embedding, labels, sample_size=min(len(labels), 10_000),
                                         random_state=42)  # fmt: skip
    with meter.stage("report"):
        df_ref["cluster"] = labels
        profile = df_ref.groupby("cluster").agg({"customer_id": "count", "gross_revenue": "mean"})
        insiders = profile["gross_revenue"].idxmax()
    return {"n_customers": len(df_ref), "insiders_cluster": int(insiders), "silhouette": score}


def _original_clean(df, pd, np):
    df_missing = df.loc[df["customer_id"].isna(), :]
    df_backup = pd.DataFrame(df_missing["invoice_no"].drop_duplicates())
    df_backup["customer_id"] = np.arange(19000, 19000 + len(df_backup), 1)
    df1 = pd.merge(df, df_backup, on="invoice_no", how="left")
    df1["customer_id"] = df1["customer_id_x"].combine_first(df1["customer_id_y"])
    df1 = df1.drop(columns=["customer_id_x", "customer_id_y"])
    df1["invoice_date"] = pd.to_datetime(df1["invoice_date"]).dt.normalize()
    df1["customer_id"] = df1["customer_id"].astype("int64")
    df1 = df1.loc[df1["unit_price"] >= 0.04, :]
    df1 = df1.loc[~df1["stock_code"].isin(EXCLUDED_CODES), :]
    df1 = df1.drop(columns="description")
    df1 = df1[~df1["country"].isin(["European Community", "Unspecified"])]
    return df1[~df1["customer_id"].isin([16446])]


def _original_features(df1, pd):
    purchases = df1.loc[df1["quantity"] >= 0, :].copy()
    df_ref = df1.drop(["invoice_no", "stock_code", "quantity", "invoice_date", "unit_price",
                       "country"], axis=1).drop_duplicates(ignore_index=True)  # fmt: skip
    purchases["gross_revenue"] = purchases["quantity"] * purchases["unit_price"]
    revenue = purchases[["customer_id", "gross_revenue"]].groupby("customer_id").sum().reset_index()
    df_ref = pd.merge(df_ref, revenue, on="customer_id", how="left")
    recency = purchases[["customer_id", "invoice_date"]].groupby("customer_id").max().reset_index()
    recency["recency_days"] = (purchases["invoice_date"].max() - recency["invoice_date"]).dt.days
    recency = recency[["customer_id", "recency_days"]]
    df_ref = pd.merge(df_ref, recency, on="customer_id", how="left")
    invoices = (purchases[["customer_id", "invoice_no"]].drop_duplicates()
                .groupby("customer_id").count().reset_index()
                .rename(columns={"invoice_no": "invoice_quantity"}))  # fmt: skip
    df_ref = pd.merge(df_ref, invoices, on="customer_id", how="left")
    items = (purchases[["customer_id", "quantity"]].groupby("customer_id").sum().reset_index()
             .rename(columns={"quantity": "items_quantity"}))  # fmt: skip
    df_ref = pd.merge(df_ref, items, on="customer_id", how="left")
    products = (purchases[["customer_id", "stock_code"]].groupby("customer_id").count()
                .reset_index().rename(columns={"stock_code": "products_quantity"}))  # fmt: skip
    df_ref = pd.merge(df_ref, products, on="customer_id", how="left")
    ticket = (purchases[["customer_id", "gross_revenue"]].groupby("customer_id").mean()
              .reset_index().rename(columns={"gross_revenue": "avg_ticket"}))  # fmt: skip
    df_ref = pd.merge(df_ref, ticket, on="customer_id", how="left")
    return df_ref.dropna()


def _original_embedding(df_ref, np):
    import umap
    from sklearn import ensemble, preprocessing

    df5 = df_ref.copy()
    for column in df5.columns.drop("customer_id"):
        df5[column] = preprocessing.MinMaxScaler().fit_transform(df5[[column]].values)
    X = df5.drop(columns=["customer_id", "gross_revenue"])
    y = df5["gross_revenue"]
    rf = ensemble.RandomForestRegressor(n_estimators=100, random_state=42).fit(X, y)
    leaves = rf.apply(X)
    return umap.UMAP(random_state=42).fit_transform(leaves)


def _original_selection(X, np):
    from scipy.cluster import hierarchy as hc
    from sklearn import cluster, metrics, mixture

    for k in NOTEBOOK_K:
        labels = cluster.KMeans(n_clusters=k, n_init=10, random_state=42).fit_predict(X)
        metrics.silhouette_score(X, labels, metric="euclidean")
    for k in NOTEBOOK_K:
        labels = mixture.GaussianMixture(n_components=k, n_init=10, random_state=42).fit(X)
        metrics.silhouette_score(X, labels.predict(X), metric="euclidean")
    for k in NOTEBOOK_K:
        tree = hc.linkage(X, "ward")
        metrics.silhouette_score(X, hc.fcluster(tree, k, criterion="maxclust"), metric="euclidean")
    for eps in (0.5, 1.0, 2.0):
        labels = cluster.DBSCAN(eps=eps, min_samples=20).fit_predict(X)
        if len(set(labels)) > 1:
            metrics.silhouette_score(X, labels, metric="euclidean")


# ------------------------------------------------------------------ driver


def child(kind: str, path: str, selection: bool) -> None:
    meter = StageMeter()
    if kind == "ours":
        result = run_ours(path, meter)
    else:
        result = run_original(path, meter, selection=selection)
    print(json.dumps({"stages": meter.stages, "result": result}, default=float))


def measure(kind: str, path: Path, *, selection: bool = True) -> dict:
    """Run one method in a fresh process; wall time includes interpreter start and imports."""
    args = [sys.executable, __file__, "--child", kind, str(path)]
    if not selection:
        args.append("--no-selection")
    started = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{kind} on {path} failed")
    data = json.loads(out.strip().splitlines()[-1])
    data["wall"] = wall
    data["peak_mb"] = usage.ru_maxrss / 1024
    return data


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with open("/proc/cpuinfo") as info:
        names = [line.split(":", 1)[1].strip() for line in info if line.startswith("model name")]
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{names[0] if names else cpu}; {os.cpu_count()} cores; {memory:.1f} GiB; "
        f"Python {platform.python_version()}; {platform.platform()}"
    )


def table(title: str, runs: dict[str, dict]) -> str:
    stages = ["ingest", "clean", "features", "embed", "select", "cluster", "version", "membership",
              "report"]
    names = list(runs)
    lines = [f"\n{title}", "| stage | " + " | ".join(f"{n} s | {n} peak MB" for n in names) + " |"]
    lines.append("|---" * (1 + 2 * len(names)) + "|")
    for stage in stages:
        cells = []
        for name in names:
            s = runs[name]["stages"].get(stage)
            cells += [f"{s['seconds']:.1f}", str(s["peak_mb"])] if s else ["-", "-"]
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    cells = []
    for name in names:
        cells += [f"{runs[name]['wall']:.1f}", f"{runs[name]['peak_mb']:.0f}"]
    lines.append("| **cold process total** | " + " | ".join(cells) + " |")
    for name in names:
        result = runs[name]["result"]
        if "fit_customers" in result:
            lines.append(
                f"{name}: {result['n_customers']:,} customers, model fitted on "
                f"{result['fit_customers']:,}, silhouette {result['silhouette']}"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--no-selection", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--scale", type=float, default=20.0, help="synthetic size / real size")
    parser.add_argument("--skip-large", action="store_true", help="only the real data set")
    parser.add_argument("--skip-real", action="store_true", help="only the synthetic data set")
    parser.add_argument(
        "--skip-original-large", action="store_true", help="no original method on the large set"
    )
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], not args.no_selection)
        return

    from settings import load_settings

    print("machine:", machine())
    real = load_settings().real_data
    results: dict[str, dict[str, dict]] = {}
    if real.exists() and not args.skip_real:
        results["real"] = {"ours": measure("ours", real), "original": measure("original", real)}
        print(table(f"real data ({real.name})", results["real"]))
        ratio = results["real"]["original"]["wall"] / results["real"]["ours"]["wall"]
        print(f"\nreal data: original / ours (cold process) = {ratio:.2f}x (goal >= 3x)")
    if not args.skip_large:
        results["large"] = large(args)
    if "real" in results and "large" in results:
        ratio = results["large"]["ours"]["wall"] / results["real"]["ours"]["wall"]
        print(
            f"\nsynthetic x{args.scale:g} / real time (ours, cold) = {ratio:.2f}x "
            f"(goal < 10x at x20)"
        )


def large(args: argparse.Namespace) -> dict[str, dict]:
    from pipeline.synthetic import write_synthetic

    n_customers = int(REAL_CUSTOMERS * args.scale)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "synthetic.parquet"
        started = time.perf_counter()
        rows = write_synthetic(path, n_customers, seed=0)
        print(
            f"\nsynthetic: {n_customers:,} customers, {rows:,} rows "
            f"(written in {time.perf_counter() - started:.0f} s)"
        )
        runs = {"ours": measure("ours", path)}
        if not args.skip_original_large:
            # The notebook's selection loop cannot run at this size: Ward linkage needs the
            # condensed distance matrix (n^2/2 doubles), and each of ~70 full silhouettes is
            # quadratic. The original's other steps are measured.
            runs["original (no selection)"] = measure("original", path, selection=False)
        print(table(f"synthetic x{args.scale:g}", runs))
        return runs


if __name__ == "__main__":
    main()
