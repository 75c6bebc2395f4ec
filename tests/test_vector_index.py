"""Vector/FTS index policy on real LanceDB tables (local tmp dir): when indexes are built, refreshed and
rebuilt, and that queries stay right with and without them (exact numpy answers to compare)."""

import lancedb
import numpy as np
import pyarrow as pa
import pytest

from prism.vectors.index import (
    IndexPolicy,
    ensure_fts_index,
    ensure_title_index,
    ensure_vector_index,
    fts_index_name,
    scalar_index_name,
    trained_rows,
    vector_index_name,
    vector_query,
)

DIM = 64
TITLES = [f"title-{i}" for i in range(5)]


def clustered(rng: np.random.Generator, n: int, centres: np.ndarray) -> np.ndarray:
    """Unit vectors around random centres (like embeddings: neighbours are meaningfully closer)."""
    vectors = centres[rng.integers(0, len(centres), n)] + rng.normal(0, 0.35 / np.sqrt(DIM), (n, DIM))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


class Data:
    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.centres = self.rng.normal(0, 1 / np.sqrt(DIM), (50, DIM))
        self.vectors = np.zeros((0, DIM), np.float32)
        self.titles: list[str] = []

    def rows(self, n: int, title: str | None = None) -> pa.Table:
        start = len(self.vectors)
        vectors = clustered(self.rng, n, self.centres)
        titles = [title or TITLES[i % len(TITLES)] for i in range(start, start + n)]
        self.vectors = np.vstack([self.vectors, vectors])
        self.titles += titles
        return pa.table({
            "id": pa.array(np.arange(start, start + n, dtype=np.int64)),
            "title_id": pa.array(titles),
            "text": pa.array([f"line {start + i} of {t}" for i, t in enumerate(titles)]),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), DIM),
        })

    def exact(self, query: np.ndarray, k: int, title: str | None = None) -> list[int]:
        sims = self.vectors @ query
        if title is not None:
            sims = np.where(np.array(self.titles) == title, sims, -np.inf)
        return [int(i) for i in np.argsort(-sims, kind="stable")[:k] if np.isfinite(sims[i])]

    def near(self, row: int, noise: float = 0.02) -> np.ndarray:
        query = self.vectors[row] + self.rng.normal(0, noise / np.sqrt(DIM), DIM)
        return (query / np.linalg.norm(query)).astype(np.float32)


def ids(builder) -> list[int]:
    return builder.select(["id", "_distance"]).to_arrow().column("id").to_pylist()


@pytest.fixture()
def db(tmp_path):
    return lancedb.connect(str(tmp_path / "lancedb"))


SMALL = IndexPolicy(min_rows=4000)


def test_policy_parameters():
    policy = IndexPolicy()
    assert policy.num_partitions(1_000_000) == 1000  # ~sqrt(n)
    assert policy.num_partitions(5000) == 19  # at most n / 256: LanceDB trains on 256 rows per partition
    assert policy.num_partitions(100) == 1
    assert IndexPolicy(max_partitions=256).num_partitions(10_000_000) == 256
    assert policy.num_sub_vectors(512) == 32
    assert IndexPolicy(dims_per_sub_vector=8).num_sub_vectors(512) == 64
    assert policy.num_sub_vectors(384) == 24
    assert policy.num_sub_vectors(100) == 5  # a divisor of dim, sub-vectors nearest 16 wide (20)
    with pytest.raises(ValueError, match="index_type"):
        IndexPolicy(index_type="FLAT")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        IndexPolicy(rebuild_growth=1.0)
    with pytest.raises(ValueError):
        IndexPolicy(refine_factor=0)


def test_below_min_rows_nothing_is_built_and_queries_are_exact(db):
    data = Data()
    table = db.create_table("shots", data.rows(3000))
    assert ensure_vector_index(table, SMALL) == "none"
    assert vector_index_name(table) is None and list(table.list_indices()) == []
    assert "ANN" not in vector_query(table, data.near(0), 10, SMALL).explain_plan(verbose=True)  # flat scan
    for row in (5, 1234, 2999):
        query = data.near(row)
        assert ids(vector_query(table, query, 10, SMALL)) == data.exact(query, 10)
        found = ids(vector_query(table, query, 10, SMALL, where="title_id = 'title-3'"))
        assert found == data.exact(query, 10, title="title-3")


def test_index_is_built_once_finds_the_planted_neighbour_and_keeps_recall(db):
    data = Data(1)
    table = db.create_table("shots", data.rows(5000))
    assert ensure_vector_index(table, SMALL) == "built"
    name = vector_index_name(table)
    assert name is not None
    stats = table.index_stats(name)
    assert (stats.index_type, stats.distance_type, stats.num_indexed_rows) == ("IVF_PQ", "cosine", 5000)
    assert trained_rows(table) == 5000
    assert ensure_vector_index(table, SMALL) == "none"  # up to date: nothing to do

    planted = 4321
    assert ids(vector_query(table, data.near(planted), 10, SMALL))[0] == planted
    rows = data.rng.choice(5000, 40, replace=False)
    recalls = []
    for row in rows:
        query = data.near(int(row), noise=0.3)
        found = ids(vector_query(table, query, 10, SMALL))
        recalls.append(len(set(found) & set(data.exact(query, 10))) / 10)
    assert np.mean(recalls) >= 0.9
    # The index is used, with the policy's probes and k * refine_factor candidates re-ranked.
    plan = vector_query(table, data.near(planted), 10, SMALL).explain_plan(verbose=True)
    assert "ANNSubIndex: name=vector_idx, k=100" in plan
    assert f"minimum_nprobes={SMALL.nprobes}, maximum_nprobes=None" in plan


def test_rows_added_later_are_found_then_merged_and_growth_retrains(db):
    data = Data(2)
    table = db.create_table("shots", data.rows(5000))
    assert ensure_vector_index(table, SMALL) == "built"

    table.add(data.rows(50))  # 1 % new rows: below the refresh share
    assert ensure_vector_index(table, SMALL) == "none"
    table.add(data.rows(500))
    new_row = 5400
    stats = table.index_stats(vector_index_name(table))
    assert stats.num_unindexed_rows == 550
    # Unindexed rows are searched flat: found before any refresh.
    assert ids(vector_query(table, data.near(new_row), 10, SMALL))[0] == new_row

    assert ensure_vector_index(table, SMALL) == "refreshed"
    stats = table.index_stats(vector_index_name(table))
    assert (stats.num_indexed_rows, stats.num_unindexed_rows) == (5550, 0)
    assert trained_rows(table) == 5000  # merged into the old centroids, not retrained
    assert ids(vector_query(table, data.near(new_row), 10, SMALL))[0] == new_row

    table.add(data.rows(4500))  # 10 050 rows: twice what the index was trained on
    assert ensure_vector_index(table, SMALL) == "rebuilt"
    assert trained_rows(table) == 10_050
    stats = table.index_stats(vector_index_name(table))
    assert (stats.num_indexed_rows, stats.num_unindexed_rows) == (10_050, 0)
    assert ids(vector_query(table, data.near(9999), 10, SMALL))[0] == 9999

    hnsw = IndexPolicy(min_rows=4000, index_type="IVF_HNSW_SQ", refine_factor=None)
    assert ensure_vector_index(table, hnsw) == "rebuilt"  # the configured index type changed
    assert table.index_stats(vector_index_name(table)).index_type == "IVF_HNSW_SQ"
    assert ensure_vector_index(table, hnsw) == "none"
    assert ids(vector_query(table, data.near(777), 10, hnsw))[0] == 777


def test_prefilter_with_the_index_returns_k_rows_of_that_title(db):
    data = Data(3)
    table = db.create_table("shots", data.rows(6000))
    table.add(data.rows(12, title="rare-title"))  # a narrow filter: 12 rows among 6 012
    assert ensure_vector_index(table, SMALL) == "built"
    assert table.index_stats(vector_index_name(table)).num_unindexed_rows == 0

    query = data.near(6005)
    found = ids(vector_query(table, query, 10, SMALL, where="title_id = 'rare-title'"))
    assert found[0] == 6005
    assert len(found) == 10 and set(found) <= set(range(6000, 6012))
    assert set(found) == set(data.exact(query, 10, title="rare-title"))

    query = data.near(100)
    found = ids(vector_query(table, query, 10, SMALL, where="title_id = 'title-0'"))
    assert found[0] == 100 and len(found) == 10
    assert all(data.titles[i] == "title-0" for i in found)
    assert ids(vector_query(table, query, 10, SMALL, where="title_id = 'no such title'")) == []


def test_title_index_is_built_and_kept_current(db):
    data = Data(5)
    table = db.create_table("shots", data.rows(600))
    assert ensure_title_index(table) == "built"
    assert scalar_index_name(table, "title_id") is not None
    assert ensure_title_index(table) == "none"
    table.add(data.rows(100, title="late-title"))
    assert ensure_title_index(table) == "refreshed"
    assert table.index_stats(scalar_index_name(table, "title_id")).num_unindexed_rows == 0
    query = data.near(650)
    found = ids(vector_query(table, query, 5, SMALL, where="title_id = 'late-title'"))
    assert found == data.exact(query, 5, title="late-title")  # per-title search is exact


def test_fts_index_finds_rows_added_after_it_was_built(db):
    data = Data(4)
    table = db.create_table("segments", data.rows(300))
    assert ensure_fts_index(table) == "built"
    assert fts_index_name(table, "text") is not None
    assert ensure_fts_index(table) == "none"

    def fts(text: str) -> list[int]:
        return table.search(text, query_type="fts").limit(5).select(["id", "_score"]).to_arrow() \
            .column("id").to_pylist()

    assert fts("42") == [42]
    extra = data.rows(3)
    extra = extra.set_column(2, "text", pa.array(["the lighthouse keeper", "a storm at sea", "quiet harbour"]))
    table.add(extra)
    assert table.index_stats(fts_index_name(table, "text")).num_unindexed_rows == 3
    assert fts("lighthouse") == [300]  # found before the index is refreshed (unindexed rows are scanned)
    assert ensure_fts_index(table) == "none"  # 1 % new rows: below the refresh share, still found
    table.add(data.rows(10))
    assert ensure_fts_index(table) == "refreshed"
    assert table.index_stats(fts_index_name(table, "text")).num_unindexed_rows == 0
    assert fts("lighthouse") == [300] and fts("storm") == [301] and fts("312") == [312]
    assert ensure_fts_index(table) == "none"


def test_fts_index_on_an_empty_table_picks_up_the_first_rows(db):
    data = Data(5)
    table = db.create_table("segments", schema=data.rows(1).schema)
    assert ensure_fts_index(table) == "built"
    table.add(data.rows(4))
    assert ensure_fts_index(table) == "refreshed"
    assert table.search("line", query_type="fts").limit(10).select(["id", "_score"]).to_arrow().num_rows == 4
