"""Vector search over LanceDB: flat (brute-force) scan vs the index that Prism's policy builds.

Builds a LanceDB table of N synthetic unit vectors (default 1,000,000 x 512 float32) and measures,
side by side in one run:
  * flat search latency p50/p95 (no index yet: LanceDB scans every vector, exact),
  * the time ``ensure_vector_index`` takes to build the index (``IndexPolicy`` defaults),
  * indexed search latency p50/p95 and recall@10 against the exact top-10, for a few
    nprobes / refine_factor settings (the policy default marked),
  * per-title search (``--title``: a prefilter on one of 1000 titles, searched exactly) without
    and with the BTree title index ``ensure_title_index`` keeps,
  * optionally (--hnsw) the same for an IVF_HNSW_SQ index.

The data are clustered like real embeddings, not uniform noise (where every neighbour is almost
equally far and recall means little): vectors are a random cluster centre (one of --clusters) plus a
variation inside a shared 32-dimensional subspace plus a little isotropic noise, L2-normalised (at
1M rows a query's nearest neighbour is at cosine ~0.85, its 10th at ~0.81). Queries are held-out
vectors from the same process, slightly perturbed, so they are not in the table. The exact top-10
of every query is computed with numpy while the table is written (streamed in batches: memory stays
flat), which also checks the flat LanceDB search (its recall must be 1.0).

    .venv/bin/python benchmarks/vector_search.py [--rows 1000000] [--dim 512] [--queries 200]
        [--flat-queries 30] [--dir DIR] [--hnsw] [--keep]
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import lancedb  # noqa: E402

from prism.vectors.index import IndexPolicy, ensure_title_index, ensure_vector_index, vector_query  # noqa: E402

K = 10
BATCH = 50_000
SUBSPACE = 32


class Synthetic:
    """Clustered unit vectors with a low-dimensional spread inside each cluster."""

    def __init__(self, dim: int, clusters: int, seed: int = 7) -> None:
        rng = np.random.default_rng(seed)
        self.dim = dim
        self.centres = (rng.standard_normal((clusters, dim)) / np.sqrt(dim)).astype(np.float32)
        self.basis = np.linalg.qr(rng.standard_normal((dim, SUBSPACE)))[0].T.astype(np.float32)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        centres = self.centres[rng.integers(0, len(self.centres), n)]
        spread = rng.standard_normal((n, SUBSPACE), dtype=np.float32) * np.float32(0.6 / np.sqrt(SUBSPACE))
        noise = rng.standard_normal((n, self.dim), dtype=np.float32) * np.float32(0.15 / np.sqrt(self.dim))
        vectors = centres + spread @ self.basis + noise
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


class ExactTopK:
    """The exact top-K ids of every query, kept up to date as rows are written (numpy, batch by batch)."""

    def __init__(self, queries: np.ndarray) -> None:
        self.queries = queries
        self.sims = np.full((len(queries), K), -np.inf, dtype=np.float32)
        self.ids = np.zeros((len(queries), K), dtype=np.int64)

    def update(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        sims = self.queries @ vectors.T  # cosine similarities: all vectors are unit length
        if len(ids) > K:
            top = np.argpartition(-sims, K - 1, axis=1)[:, :K]
        else:
            top = np.tile(np.arange(len(ids)), (len(self.queries), 1))
        cand_sim = np.concatenate([self.sims, np.take_along_axis(sims, top, 1)], axis=1)
        cand_id = np.concatenate([self.ids, ids[top]], axis=1)
        keep = np.argsort(-cand_sim, axis=1)[:, :K]
        self.sims = np.take_along_axis(cand_sim, keep, 1)
        self.ids = np.take_along_axis(cand_id, keep, 1)


def batches(data: Synthetic, rng: np.random.Generator, first_id: int, rows: int,
            exact: ExactTopK) -> Iterator[pa.RecordBatch]:
    """Table rows in batches of BATCH (memory stays flat), folded into the exact answers as they go."""
    for start in range(first_id, first_id + rows, BATCH):
        n = min(BATCH, first_id + rows - start)
        vectors = data.sample(rng, n)
        ids = np.arange(start, start + n, dtype=np.int64)
        exact.update(ids, vectors)
        yield pa.RecordBatch.from_pydict({
            "id": ids,
            "title_id": pa.array([f"title-{i % 1000:04d}" for i in ids]),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), data.dim),
        })


def timed_queries(run, queries: np.ndarray, warmup: int = 3) -> tuple[list[float], list[np.ndarray]]:
    for q in queries[:warmup]:
        run(q)  # index and file metadata into cache: first-query costs are not steady state
    latencies, results = [], []
    for q in queries:
        started = time.perf_counter()
        ids = run(q)
        latencies.append(time.perf_counter() - started)
        results.append(ids)
    return latencies, results


def recall(results: list[np.ndarray], truth: np.ndarray) -> float:
    hits = [len(set(r.tolist()) & set(t.tolist())) for r, t in zip(results, truth, strict=True)]
    return float(np.mean(hits)) / K


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=200, help="queries per indexed setting")
    parser.add_argument("--flat-queries", type=int, default=30,
                        help="queries timed on the flat scan (each reads every vector)")
    parser.add_argument("--clusters", type=int, default=4000)
    parser.add_argument("--dir", type=Path, default=None, help="parent folder for the table (local disk)")
    parser.add_argument("--hnsw", action="store_true", help="also build and measure IVF_HNSW_SQ")
    parser.add_argument("--keep", action="store_true", help="keep the table folder")
    parser.add_argument("--dims-per-sub-vector", type=int, default=None, help="override the policy's PQ width")
    parser.add_argument("--kmeans-iterations", type=int, default=None,
                        help="override the policy's k-means iterations")
    args = parser.parse_args()

    data = Synthetic(args.dim, args.clusters)
    query_rng = np.random.default_rng(99)
    held_out = data.sample(query_rng, args.queries)
    queries = held_out + query_rng.standard_normal(held_out.shape, dtype=np.float32) * np.float32(
        0.05 / np.sqrt(args.dim))
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)

    workdir = Path(tempfile.mkdtemp(prefix="prism-vbench-", dir=args.dir))
    try:
        db = lancedb.connect(str(workdir))
        exact = ExactTopK(queries)
        row_rng = np.random.default_rng(11)
        schema = pa.schema([("id", pa.int64()), ("title_id", pa.string()),
                            ("vector", pa.list_(pa.float32(), args.dim))])
        started = time.perf_counter()
        table = db.create_table("vectors", data=batches(data, row_rng, 0, args.rows, exact), schema=schema)
        write_s = time.perf_counter() - started
        print(f"table: {table.count_rows():,} x {args.dim} float32 unit vectors, {args.clusters} clusters, "
              f"written in {write_s:.1f} s (incl. numpy exact top-{K}) -> {workdir}")

        policy = IndexPolicy(min_rows=min(IndexPolicy().min_rows, args.rows))
        if args.dims_per_sub_vector:
            policy = replace(policy, dims_per_sub_vector=args.dims_per_sub_vector)
        if args.kmeans_iterations:
            policy = replace(policy, kmeans_iterations=args.kmeans_iterations)

        def search(p: IndexPolicy, tbl=table):
            def run(q: np.ndarray) -> np.ndarray:
                out = vector_query(tbl, q, K, p).select(["id", "_distance"]).to_arrow()
                return out.column("id").to_numpy()
            return run

        rows = []  # (label, latencies, recall)
        flat_lat, flat_res = timed_queries(search(policy), queries[: args.flat_queries])
        rows.append(("flat scan (no index, exact)", flat_lat, recall(flat_res, exact.ids[: args.flat_queries])))

        started = time.perf_counter()
        action = ensure_vector_index(table, policy)
        build_s = time.perf_counter() - started
        print(f"index: ensure_vector_index -> {action!r} in {build_s:.1f} s: {policy.index_type}, "
              f"{policy.num_partitions(args.rows)} partitions, "
              f"{policy.num_sub_vectors(args.dim)} PQ sub-vectors, "
              f"{policy.kmeans_iterations} k-means iterations")

        default = (policy.nprobes, policy.refine_factor)
        settings = [(10, None), (20, None), (10, 10), default, (40, 10), (40, 30)]
        for nprobes, refine in dict.fromkeys(settings):
            p = replace(policy, nprobes=nprobes, refine_factor=refine)
            lat, res = timed_queries(search(p), queries)
            mark = "  <- policy default" if (nprobes, refine) == default else ""
            rows.append((f"IVF_PQ nprobes={nprobes} refine={refine}{mark}", lat, recall(res, exact.ids)))

        # Per-title search (`prism search --title`): exact over the title's rows, found by a full
        # scan of the title column, then through the BTree title index.
        title_cycle = itertools.cycle(f"title-{i:04d}" for i in range(0, 1000, 7))

        def one_title(tbl=table):
            def run(q: np.ndarray) -> np.ndarray:
                where = f"title_id = '{next(title_cycle)}'"
                out = vector_query(tbl, q, K, policy, where=where).select(["id", "_distance"]).to_arrow()
                return out.column("id").to_numpy()
            return run

        lat, _ = timed_queries(one_title(), queries[: args.flat_queries])
        rows.append(("one title, no title index (exact)", lat, None))
        started = time.perf_counter()
        ensure_title_index(table)
        title_index_s = time.perf_counter() - started
        lat, _ = timed_queries(one_title(), queries)
        rows.append(("one title, BTree title index (exact)", lat, None))

        # New titles arrive: append a bit more than the policy's refresh share, query the unindexed
        # tail (searched flat), then let the policy merge it into the index.
        added = int(args.rows * policy.refresh_unindexed_fraction * 1.25)
        started = time.perf_counter()
        table.add(pa.Table.from_batches(list(batches(data, row_rng, args.rows, added, exact)), schema=schema))
        add_s = time.perf_counter() - started
        lat, res = timed_queries(search(policy), queries)
        rows.append((f"+{added:,} rows appended, not yet merged", lat, recall(res, exact.ids)))
        started = time.perf_counter()
        refresh_action = ensure_vector_index(table, policy)
        refresh_s = time.perf_counter() - started
        lat, res = timed_queries(search(policy), queries)
        label = f"+{added:,} rows, after ensure_vector_index ({refresh_action})"
        rows.append((label, lat, recall(res, exact.ids)))

        if args.hnsw:
            hnsw = replace(policy, index_type="IVF_HNSW_SQ", refine_factor=None)
            started = time.perf_counter()
            action = ensure_vector_index(table, hnsw)
            print(f"index: IVF_HNSW_SQ -> {action!r} in {time.perf_counter() - started:.1f} s")
            for nprobes in (10, 20):
                lat, res = timed_queries(search(replace(hnsw, nprobes=nprobes)), queries)
                rows.append((f"IVF_HNSW_SQ nprobes={nprobes}", lat, recall(res, exact.ids)))

        flat_p50 = pct(flat_lat, 50)
        print()
        print(f"{'search':<52} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'recall@10':>9} {'speed-up p50':>12}")
        for label, lat, rec in rows:
            shown = f"{rec:>9.3f}" if rec is not None else f"{'exact':>9}"
            print(f"{label:<52} {len(lat):>4} {pct(lat, 50):>8.1f} {pct(lat, 95):>8.1f} {shown} "
                  f"{flat_p50 / pct(lat, 50):>11.1f}x")
        print(f"\nindex build: {build_s:.1f} s for {args.rows:,} rows "
              f"({build_s / (statistics.median(flat_lat)):.0f} flat queries' worth)")
        print(f"title index (BTree on title_id): {title_index_s:.2f} s")
        print(f"appending {added:,} rows: {add_s:.1f} s; ensure_vector_index -> {refresh_action!r}: "
              f"{refresh_s:.1f} s (optimize: compaction + merge into the index)")
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
