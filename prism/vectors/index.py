"""When and how the LanceDB tables get their vector and full-text indexes, and how to query them.

Plain functions over a LanceDB 0.40 ``Table`` (local or ``s3://``, same code). Facts they rest on,
checked against LanceDB 0.40.0:

* A vector query is always complete: rows appended after the index was built ("unindexed") are
  searched by a flat scan and merged with the indexed candidates. Likewise a full-text query finds
  rows added after the FTS index was built. Refreshing an index therefore never changes *what* is
  found, only how much is scanned flat; a table below the policy's size needs no vector index at
  all (a flat scan is exact and fast there).
* ``Table.optimize()`` compacts small files, prunes versions older than 7 days, and merges the
  unindexed rows into every existing index (vector and FTS) *without retraining*: new vectors are
  assigned to the old IVF centroids and encoded with the old PQ codebooks. So after the table has
  grown a lot the partition count is too small for it and the centroids reflect old data: then the
  index is rebuilt (retrained) instead. The row count the index was trained on is recorded in the
  ``vector`` field's metadata (key ``TRAINED_ROWS_KEY``), because after a merge the index's own
  statistics only report how many rows it covers.
* ``nprobes`` on the query builder sets both the minimum and the maximum number of IVF partitions
  searched. ``vector_query`` sets only the minimum and leaves the maximum open.
* A prefiltered query (our filters select one title: hundreds to a few thousand rows) is run as
  an exact flat scan of the matching rows: through the index it is approximate twice over (the
  probed partitions hold few of the title's rows, PQ codes order them roughly), and the flat scan
  of one title's vectors costs little.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:  # lancedb is imported where it is used: importing it costs ~3 s of CPU per process
    from lancedb.index import FTS, IvfHnswSq, IvfPq
    from lancedb.query import LanceVectorQueryBuilder
    from lancedb.table import IndexStatistics, Table

VECTOR_COLUMN = "vector"
DISTANCE = "cosine"
TRAINED_ROWS_KEY = "prism:vector_index_trained_rows"

# Spelled as index_stats() reports them (list_indices() says "IvfPq", "IvfHnswSq").
IndexType = Literal["IVF_PQ", "IVF_HNSW_SQ"]
INDEX_TYPES: tuple[IndexType, ...] = ("IVF_PQ", "IVF_HNSW_SQ")

IndexAction = Literal["none", "built", "refreshed", "rebuilt"]


@dataclass(frozen=True)
class IndexPolicy:
    """How a vector table is indexed and queried.

    Defaults chosen by ``benchmarks/vector_search.py`` (1M x 512 clustered unit vectors, 2 cores):
    IVF_PQ with ~sqrt(n) partitions and 16 dimensions per PQ sub-vector, 20 partitions probed at
    least, and the top ``k * refine_factor`` candidates re-ranked on the full vectors.
    """

    min_rows: int = 100_000
    """Build a vector index only from this many rows on; below it queries are exact flat scans."""
    index_type: IndexType = "IVF_PQ"
    nprobes: int = 20
    """Minimum IVF partitions searched per query (more: better recall, slower)."""
    refine_factor: int | None = 10
    """Re-rank ``k * refine_factor`` PQ candidates on the stored full vectors (None: no re-ranking)."""
    ef: int | None = None
    """HNSW search breadth for IVF_HNSW_SQ (None: LanceDB's default)."""
    dims_per_sub_vector: int = 16
    """PQ granularity: dim / this many sub-vectors of 8 bits each (8 or 16 use LanceDB's SIMD path).
    16 rather than 8: with re-ranking recall was the same, training 1.6x and queries 1.4x faster."""
    max_partitions: int = 4096
    kmeans_iterations: int = 10
    """k-means iterations when training IVF centroids and PQ codebooks. LanceDB's default (50) trained
    2.4x slower (200k x 512: 57.7 s vs 23.7 s) for no recall gain (0.631 vs 0.654 without re-ranking,
    1.000 for both with it)."""
    rebuild_growth: float = 2.0
    """Retrain the index once the table holds this many times the rows it was trained on."""
    refresh_unindexed_fraction: float = 0.02
    """Merge new rows into the index once they exceed this share of the indexed rows."""

    def __post_init__(self) -> None:
        if self.index_type not in INDEX_TYPES:
            raise ValueError(f"index_type must be one of {', '.join(INDEX_TYPES)}, not {self.index_type!r}")
        if min(self.min_rows, self.nprobes, self.dims_per_sub_vector, self.kmeans_iterations) < 1:
            raise ValueError("min_rows, nprobes, dims_per_sub_vector and kmeans_iterations must be positive")
        if self.refine_factor is not None and self.refine_factor < 1:
            raise ValueError("refine_factor must be positive or None")
        if self.rebuild_growth <= 1.0:
            raise ValueError("rebuild_growth must be greater than 1")

    def num_partitions(self, rows: int) -> int:
        """IVF partitions for a table of ``rows``: about sqrt(rows), at least 1, at most max_partitions,
        and at most rows / 256 (LanceDB trains k-means on 256 sample rows per partition and trains
        fewer partitions than asked, with a warning, when the table is smaller than that)."""
        root = round(math.sqrt(max(rows, 1)))
        return max(1, min(root, self.max_partitions, rows // 256))

    def num_sub_vectors(self, dim: int) -> int:
        """PQ sub-vectors for vectors of ``dim``: a divisor of ``dim`` whose width is nearest to
        ``dims_per_sub_vector`` (exactly dim / dims_per_sub_vector when that divides)."""
        divisors = [m for m in range(1, dim + 1) if dim % m == 0]
        return min(divisors, key=lambda m: (abs(dim // m - self.dims_per_sub_vector), -m))

    def index_config(self, rows: int, dim: int) -> IvfPq | IvfHnswSq:
        from lancedb.index import IvfHnswSq, IvfPq

        partitions = self.num_partitions(rows)
        if self.index_type == "IVF_HNSW_SQ":
            return IvfHnswSq(distance_type=DISTANCE, num_partitions=partitions,
                             max_iterations=self.kmeans_iterations)
        return IvfPq(distance_type=DISTANCE, num_partitions=partitions,
                     num_sub_vectors=self.num_sub_vectors(dim), max_iterations=self.kmeans_iterations)


# -- inspecting a table ------------------------------------------------------------------------------
def vector_index_name(table: Table, column: str = VECTOR_COLUMN) -> str | None:
    """Name of the vector index on ``column``, or None."""
    for config in table.list_indices():
        if list(config.columns) == [column] and _is_vector_index_type(config.index_type):
            return config.name
    return None


def scalar_index_name(table: Table, column: str) -> str | None:
    """Name of the scalar (BTree) index on ``column``, or None."""
    for config in table.list_indices():
        if list(config.columns) == [column] and config.index_type == "BTree":
            return config.name
    return None


def fts_index_name(table: Table, column: str) -> str | None:
    """Name of the full-text index on ``column``, or None."""
    for config in table.list_indices():
        if list(config.columns) == [column] and config.index_type == "FTS":
            return config.name
    return None


def _is_vector_index_type(list_indices_type: str) -> bool:
    # list_indices() names vector index types "IvfPq", "IvfHnswSq", "IvfFlat", ...; scalar and
    # full-text ones "BTree", "Bitmap", "LabelList", "FTS".
    return list_indices_type.startswith("Ivf") or "Hnsw" in list_indices_type


def vector_dim(table: Table, column: str = VECTOR_COLUMN) -> int:
    field_type = table.schema.field(column).type
    size = getattr(field_type, "list_size", None)
    if not size or size < 1:
        raise ValueError(f"column {column!r} is not a fixed-size vector column ({field_type})")
    return int(size)


def trained_rows(table: Table, column: str = VECTOR_COLUMN) -> int | None:
    """Rows the current vector index was trained on (None when not recorded)."""
    metadata = table.schema.field(column).metadata or {}
    raw = metadata.get(TRAINED_ROWS_KEY.encode())
    return int(raw) if raw else None


# -- maintaining indexes -----------------------------------------------------------------------------
def ensure_vector_index(table: Table, policy: IndexPolicy, column: str = VECTOR_COLUMN) -> IndexAction:
    """Bring the vector index of ``table`` in line with ``policy``; return what was done.

    * no index, fewer than ``min_rows`` rows: "none" (flat search is exact and fast);
    * no index, at least ``min_rows``: train one ("built");
    * an index of another type or distance than the policy's, or the table grew ``rebuild_growth``
      times past the rows it was trained on: retrain it from scratch ("rebuilt");
    * rows appended since, more than ``refresh_unindexed_fraction`` of the indexed ones: merge them
      into the index with ``optimize()`` ("refreshed"; this also refreshes any FTS index);
    * otherwise "none".
    An existing index is kept up even if the table shrinks below ``min_rows`` again.
    """
    rows = table.count_rows()
    name = vector_index_name(table, column)
    if name is None:
        if rows < policy.min_rows:
            return "none"
        _train(table, policy, column, rows)
        return "built"

    stats = table.index_stats(name)
    assert stats is not None  # vector_index_name only returns indexes with statistics
    trained = trained_rows(table, column) or stats.num_indexed_rows
    mismatched = stats.index_type != policy.index_type or stats.distance_type != DISTANCE
    if mismatched or rows >= policy.rebuild_growth * max(trained, 1):
        _train(table, policy, column, rows)
        return "rebuilt"
    if _needs_refresh(stats, policy.refresh_unindexed_fraction):
        table.optimize()
        return "refreshed"
    return "none"


def _needs_refresh(stats: IndexStatistics, unindexed_fraction: float) -> bool:
    return stats.num_unindexed_rows > unindexed_fraction * max(stats.num_indexed_rows, 1)


def _train(table: Table, policy: IndexPolicy, column: str, rows: int) -> None:
    table.create_index(column, config=policy.index_config(rows, vector_dim(table, column)), replace=True)
    table.update_field_metadata({"path": column, "metadata": {TRAINED_ROWS_KEY: str(rows)}})


def ensure_title_index(table: Table, column: str = "title_id",
                       refresh_unindexed_fraction: float = 0.02) -> IndexAction:
    """A BTree index on the title column: every per-title write (merge_insert, delete) and every
    per-title search filters on it. Without it each such filter scans the whole column (about
    0.6 s at 300k rows here); with it a title's rows are found in milliseconds. Rebuilding it is
    cheap (0.04 s at 300k rows), so rows added since are taken in by rebuilding, not ``optimize()``.
    """
    name = scalar_index_name(table, column)
    if name is not None:
        stats = table.index_stats(name)
        if stats is None or not _needs_refresh(stats, refresh_unindexed_fraction):
            return "none"
    from lancedb.index import BTree

    table.create_index(column, config=BTree(), replace=True)
    return "built" if name is None else "refreshed"


def ngram_fts() -> FTS:
    """Full-text config of 2-3 character n-grams, not stemmed or folded: Korean attaches particles
    and endings to words ("부산역에서"), so word tokens miss a query for the stem ("부산"); n-grams
    find it (checked against LanceDB 0.40: the "simple" tokenizer does not). Also forgiving of
    OCR misreadings, at the cost of looser matches for English words."""
    from lancedb.index import FTS

    return FTS(base_tokenizer="ngram", ngram_min_length=2, ngram_max_length=3, stem=False,
               remove_stop_words=False, ascii_folding=False)


def ensure_fts_index(table: Table, column: str = "text",
                     refresh_unindexed_fraction: float = 0.02, config: FTS | None = None) -> IndexAction:
    """Full-text (BM25) index on ``column``: create it when missing ("built"); when the rows added
    since exceed ``refresh_unindexed_fraction`` of the indexed ones, merge them in with ``optimize()``
    ("refreshed"; this also merges new rows into a vector index on the table); else "none".

    Rows not yet merged are still found by full-text queries (LanceDB 0.40 scans them flat), so the
    refresh is for speed, not correctness; it is not done on every new title because ``optimize()``
    costs seconds on a large table (40 s on 1M x 512 vectors with a vector index, on 2 cores).
    Tokenizer: LanceDB's "simple" (splits on whitespace and punctuation, so it handles space-separated
    scripts such as Korean as well as English), lower-cased, ASCII-folded, English stemming and stop
    words.
    """
    from lancedb.index import FTS

    name = fts_index_name(table, column)
    if name is None:
        table.create_index(column, config=config or FTS(), replace=False)
        return "built"
    stats = table.index_stats(name)
    if stats is not None and _needs_refresh(stats, refresh_unindexed_fraction):
        table.optimize()
        return "refreshed"
    return "none"


# -- querying ----------------------------------------------------------------------------------------
def vector_query(table: Table, vector: Any, k: int, policy: IndexPolicy, where: str | None = None,
                 column: str = VECTOR_COLUMN) -> LanceVectorQueryBuilder:
    """A cosine nearest-neighbour query for ``k`` rows, as a LanceDB query builder (add ``.select``,
    then ``.to_list()`` / ``.to_arrow()``); each row carries ``_distance`` = 1 - cosine similarity.

    ``where`` is a SQL prefilter (e.g. ``title_id = 'x'``) applied before the search, so ``k`` rows
    come back whenever ``k`` rows match; the filtered rows are searched exactly (flat). Unfiltered,
    the policy's search parameters apply when the column has a vector index; without one the query
    is an exact flat scan.
    """
    if k < 1:
        raise ValueError("k must be positive")
    query = np.asarray(vector, dtype=np.float32)
    if query.ndim != 1:
        raise ValueError(f"expected one query vector, got shape {query.shape}")
    builder = table.search(query, vector_column_name=column).distance_type(DISTANCE).limit(k)
    if where:
        return builder.where(where, prefilter=True).bypass_vector_index()
    if vector_index_name(table, column) is not None:
        builder = builder.minimum_nprobes(policy.nprobes).maximum_nprobes(0)
        if policy.refine_factor:
            builder = builder.refine_factor(policy.refine_factor)
        if policy.ef and policy.index_type == "IVF_HNSW_SQ":
            builder = builder.ef(policy.ef)
    return builder
