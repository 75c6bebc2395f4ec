"""The LanceDB vector tables and search over them, on real LanceDB (local disk and S3)."""

import re
import threading

import numpy as np
import pyarrow as pa
import pytest

from prism.embeddings.base import l2_normalize
from prism.vectors.index import IndexPolicy
from prism.vectors.search import (
    Searcher,
    SearchError,
    clean_query,
    nearest_shots,
    parse_shot_ref,
    search_lines,
    similar_shots,
)
from prism.vectors.store import (
    SEGMENTS,
    SHOTS,
    EmbeddingModel,
    ModelMismatch,
    VectorStore,
    VectorStoreError,
    lance_storage_options,
    title_filter,
)

DIM = 32
MODEL = EmbeddingModel("test/planted-32", DIM)


def unit(rng: np.random.Generator, n: int, dim: int = DIM) -> np.ndarray:
    return l2_normalize(rng.normal(size=(n, dim)))


def shot_rows(title_id: str, vectors: np.ndarray, keyframes_per_shot: int = 1) -> list[dict]:
    rows = []
    for i, v in enumerate(vectors):
        shot = i // keyframes_per_shot
        rows.append({"id": f"{title_id}/{shot}/{i}", "title_id": title_id, "shot_index": shot, "frame_index": i,
                     "start_s": float(shot), "end_s": float(shot + 1), "time_s": shot + 0.5,
                     "transition": "cut", "keyframe_path": f"keyframes/shot{shot:05d}_f{i:07d}.jpg",
                     "metadata": None, "vector": v})
    return rows


def line_rows(title_id: str, texts: list[str], vectors: np.ndarray, track: int = 0) -> list[dict]:
    return [{"id": f"{title_id}/{track}/{i}", "title_id": title_id, "track": track, "segment_index": i,
             "start_s": 2.0 * i, "end_s": 2.0 * i + 1.5, "text": t, "language": "en", "metadata": None,
             "vector": v} for i, (t, v) in enumerate(zip(texts, vectors, strict=True))]


@pytest.fixture
def store(tmp_path) -> VectorStore:
    return VectorStore(str(tmp_path / "lancedb"))


def test_replacing_a_title_is_idempotent_and_leaves_other_titles_alone(store):
    rng = np.random.default_rng(0)
    a, b = unit(rng, 12), unit(rng, 5)
    store.replace_title(SHOTS, "ep-1", shot_rows("ep-1", a), MODEL)
    store.replace_title(SHOTS, "ep-2", shot_rows("ep-2", b), MODEL)
    ids_before = store.title_ids(SHOTS, "ep-1")

    again = store.replace_title(SHOTS, "ep-1", shot_rows("ep-1", a), MODEL)
    assert again.title_rows == 12 and again.table_rows == 17  # same rows, no duplicates
    assert store.title_ids(SHOTS, "ep-1") == ids_before

    fewer = store.replace_title(SHOTS, "ep-1", shot_rows("ep-1", a[:4]), MODEL)  # a re-cut title
    assert fewer.table_rows == 9
    assert store.title_ids(SHOTS, "ep-1") == sorted(r["id"] for r in shot_rows("ep-1", a[:4]))
    assert store.title_row_count(SHOTS, "ep-2") == 5

    store.replace_title(SHOTS, "ep-1", [], MODEL)  # nothing left for the title: its rows go
    assert store.title_row_count(SHOTS, "ep-1") == 0 and store.title_row_count(SHOTS, "ep-2") == 5
    assert store.delete_title("ep-2") == {SHOTS: 5}


def test_two_titles_written_at_the_same_time_both_land(store):
    rng = np.random.default_rng(1)
    batches = {f"par-{i}": unit(rng, 20) for i in range(4)}
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(batches))

    def write(title_id: str, vectors: np.ndarray) -> None:
        try:
            barrier.wait()
            for _ in range(2):  # also a re-run racing the other titles
                store_of_thread = VectorStore(store.uri)  # its own connection, as another process has
                store_of_thread.replace_title(SHOTS, title_id, shot_rows(title_id, vectors), MODEL)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=item) for item in batches.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for title_id in batches:
        assert store.title_row_count(SHOTS, title_id) == 20
    assert store.open(SHOTS).count_rows() == 80


def _write_title_in_another_process(uri: str, title_id: str, seed: int) -> int:
    store = VectorStore(uri)
    vectors = unit(np.random.default_rng(seed), 30)
    return store.replace_title(SHOTS, title_id, shot_rows(title_id, vectors), MODEL).title_rows


def test_titles_written_from_separate_processes_all_land(tmp_path):
    """As in production, where each title's `vectors` step is its own process (ECS task)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    uri = str(tmp_path / "lancedb")
    with ProcessPoolExecutor(3, mp_context=multiprocessing.get_context("spawn")) as pool:
        written = list(pool.map(_write_title_in_another_process, [uri] * 3, ["p-1", "p-2", "p-3"], [1, 2, 3]))
    assert written == [30, 30, 30]
    store = VectorStore(uri)
    assert store.open(SHOTS).count_rows() == 90
    assert [store.title_row_count(SHOTS, t) for t in ("p-1", "p-2", "p-3")] == [30, 30, 30]


def test_a_model_change_is_detected_not_mixed(tmp_path):
    rng = np.random.default_rng(2)
    store = VectorStore(str(tmp_path / "db"))
    store.replace_title(SHOTS, "ep-1", shot_rows("ep-1", unit(rng, 3)), MODEL)
    other = EmbeddingModel("test/other-32", DIM)
    with pytest.raises(ModelMismatch, match="holds test/planted-32 .32-dim.*configured model is test/other-32"):
        store.replace_title(SHOTS, "ep-2", shot_rows("ep-2", unit(rng, 3)), other)
    with pytest.raises(ModelMismatch):
        store.check_model(SHOTS, EmbeddingModel("test/planted-32", 64))  # same name, other dimension
    assert store.open(SHOTS).count_rows() == 3  # nothing was written

    rebuild = VectorStore(store.uri, on_model_change="recreate")
    result = rebuild.replace_title(SHOTS, "ep-2", shot_rows("ep-2", unit(rng, 3)), other)
    assert result.recreated and result.table_rows == 3
    assert store.model_of(SHOTS) == other


def test_rows_are_validated_before_anything_is_written(store):
    rng = np.random.default_rng(3)
    rows = shot_rows("ep-1", unit(rng, 2))
    rows[1]["title_id"] = "ep-9"
    with pytest.raises(VectorStoreError, match="other title ids"):
        store.replace_title(SHOTS, "ep-1", rows, MODEL)
    bad = shot_rows("ep-1", unit(rng, 2))
    bad[0]["vector"] = np.full(DIM, np.nan, np.float32)
    with pytest.raises(VectorStoreError, match="non-finite"):
        store.replace_title(SHOTS, "ep-1", bad, MODEL)
    with pytest.raises(Exception, match="title id"):
        title_filter("x' OR '1'='1")
    assert store.title_row_count(SHOTS, "ep-1") == 0


def test_search_returns_the_planted_nearest_neighbour_first(store):
    rng = np.random.default_rng(4)
    vectors = unit(rng, 600)
    store.replace_title(SHOTS, "ep-1", shot_rows("ep-1", vectors[:300], keyframes_per_shot=3), MODEL)
    store.replace_title(SHOTS, "ep-2", shot_rows("ep-2", vectors[300:]), MODEL)
    target = vectors[417]  # ep-2, shot 117
    query = target + 0.15 * unit(rng, 1)[0]
    hits = nearest_shots(store, query, k=5)
    assert (hits[0].title_id, hits[0].shot_index) == ("ep-2", 117)
    assert hits[0].score == pytest.approx(float(l2_normalize(query[None])[0] @ target), abs=1e-4)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert len({(h.title_id, h.shot_index) for h in hits}) == 5  # one hit per shot

    # Restricted to ep-1, the best is the planted ep-1 shot (three keyframes, reported once).
    planted = vectors[40]  # ep-1 shot 13
    hits = nearest_shots(store, planted, k=3, title_id="ep-1")
    assert hits[0].title_id == "ep-1" and hits[0].shot_index == 13 and hits[0].score == pytest.approx(1.0)
    assert all(h.title_id == "ep-1" for h in hits)


def test_similar_shots_finds_the_look_alike_and_not_itself(store):
    rng = np.random.default_rng(5)
    vectors = unit(rng, 50)
    vectors[30] = l2_normalize((vectors[7] + 0.1 * unit(rng, 1)[0])[None])[0]  # shot 30 looks like 7
    store.replace_title(SHOTS, "ep-1", shot_rows("ep-1", vectors[:25]), MODEL)
    store.replace_title(SHOTS, "ep-2", shot_rows("ep-2", vectors[25:]), MODEL)
    hits = similar_shots(store, "ep-1:7", k=3)
    assert (hits[0].title_id, hits[0].shot_index) == ("ep-2", 5)
    assert ("ep-1", 7) not in {(h.title_id, h.shot_index) for h in hits}
    with pytest.raises(SearchError, match="shot 99 of title ep-1 is not in the index"):
        similar_shots(store, "ep-1:99")
    for bad in ("ep-1", "ep-1:x", ":3", "../etc:1", ""):
        with pytest.raises(SearchError):
            parse_shot_ref(bad)


def test_index_is_built_past_the_threshold_and_search_still_finds_the_plant(tmp_path):
    rng = np.random.default_rng(6)
    store = VectorStore(str(tmp_path / "db"), index_policy=IndexPolicy(min_rows=1000))
    vectors = unit(rng, 1200)
    small = store.replace_title(SHOTS, "ep-1", shot_rows("ep-1", vectors[:600]), MODEL)
    assert small.vector_index == "none"
    big = store.replace_title(SHOTS, "ep-2", shot_rows("ep-2", vectors[600:]), MODEL)
    assert big.vector_index != "none"
    assert any("vector" in ix.columns for ix in store.open(SHOTS).list_indices())
    hits = nearest_shots(store, vectors[900], k=3)
    assert (hits[0].title_id, hits[0].shot_index) == ("ep-2", 300)


@pytest.fixture(scope="module")
def minilm():
    from prism.embeddings.sentence import TransformersSentenceEmbedder, bundled_text_model_dir

    path = bundled_text_model_dir()
    if path is None:
        pytest.fail("the demo extra's all-MiniLM-L6-v2 is not installed (scripts/setup.sh test,demo)")
    return TransformersSentenceEmbedder(str(path), device="cpu")


LINES = [
    "Get the boat ready, the storm reaches the harbour tonight.",
    "I never liked chocolate cake at birthday parties.",
    "The detective found fingerprints on the broken window.",
    "Our train to Berlin leaves at seven in the morning.",
    "O'Brien said \"DROP TABLE users;\" was just a joke.",
]


def test_dialogue_search_is_hybrid_and_finds_the_line(store, minilm):
    store.replace_title(SEGMENTS, "ep-1", line_rows("ep-1", LINES, minilm.embed_texts(LINES)),
                        EmbeddingModel(minilm.model_id, minilm.dim))
    assert any(ix.index_type == "FTS" for ix in store.open(SEGMENTS).list_indices())
    # By meaning (no word in common) and by words.
    assert search_lines(store, minilm, "a ship preparing for bad weather", k=2)[0].segment_index == 0
    assert search_lines(store, minilm, "fingerprints", k=2)[0].segment_index == 2
    hit = search_lines(store, minilm, "railway journey to Germany", k=1, title_id="ep-1")[0]
    assert (hit.title_id, hit.track, hit.text) == ("ep-1", 0, LINES[3])
    assert search_lines(store, minilm, "railway journey", k=3, title_id="ep-404") == []


@pytest.mark.parametrize("query", [
    'O\'Brien said "DROP TABLE users;"', "' OR 1=1 --", "title_id = 'ep-1'", "AND OR NOT ( ) * ~ ^ :",
    "x" * 20_000, "폭풍이 오기 전에 배를 준비해", "\x00\x1b[31mred\x07", "  \n\t tabs  ",
])
def test_hostile_queries_are_searched_as_text(store, minilm, query):
    store.replace_title(SEGMENTS, "ep-1", line_rows("ep-1", LINES, minilm.embed_texts(LINES)),
                        EmbeddingModel(minilm.model_id, minilm.dim))
    hits = search_lines(store, minilm, query, k=3)
    assert len(hits) == 3 and all(h.title_id == "ep-1" for h in hits)
    if "DROP TABLE" in query:
        assert hits[0].segment_index == 4  # the quoted words were matched as words
    assert store.open(SEGMENTS).count_rows() == len(LINES)  # and nothing was executed


def test_searching_with_another_model_than_the_table_holds_is_refused(store, minilm, tmp_path):
    from tiny_models import build_tiny_sentence_model

    from prism.embeddings.loading import load_text_embedder

    store.replace_title(SEGMENTS, "ep-1", line_rows("ep-1", LINES, minilm.embed_texts(LINES)),
                        EmbeddingModel(minilm.model_id, minilm.dim))
    other = load_text_embedder(str(build_tiny_sentence_model(tmp_path / "tiny")), device="cpu")
    with pytest.raises(ModelMismatch, match=re.escape(minilm.model_id)):
        Searcher(store, text_embedder=other).search("boat", scope="transcripts")


def test_empty_queries_and_bad_arguments_are_clear_errors(store, minilm):
    for empty in ("", "   ", "\x00\n"):
        with pytest.raises(SearchError, match="empty"):
            clean_query(empty)
    assert len(clean_query("y" * 5000)) == 1000
    searcher = Searcher(store, text_embedder=minilm)
    with pytest.raises(SearchError, match="either a text query or --like"):
        searcher.search()
    with pytest.raises(SearchError, match="k must be between"):
        searcher.search("boat", k=0)
    with pytest.raises(SearchError, match="--title"):
        searcher.search("boat", title_id="../x")


def test_lancedb_on_a_real_s3_server(s3_bucket, s3_server, minilm):
    uri = f"s3://{s3_bucket}/artifacts/lancedb"
    options = lance_storage_options(uri, endpoint_url=s3_server.endpoint_url, region="us-east-1")
    assert options["allow_http"] == "true"
    store = VectorStore(uri, storage_options=options)
    rng = np.random.default_rng(7)
    vectors = unit(rng, 40)
    model = EmbeddingModel(minilm.model_id, minilm.dim)
    for _ in range(2):  # idempotent on S3 as well
        store.replace_title(SHOTS, "s3-1", shot_rows("s3-1", vectors), MODEL)
        store.replace_title(SEGMENTS, "s3-1", line_rows("s3-1", LINES, minilm.embed_texts(LINES)), model)
    reopened = VectorStore(uri, storage_options=options)
    assert reopened.open(SHOTS).count_rows() == 40 and reopened.open(SEGMENTS).count_rows() == len(LINES)
    assert nearest_shots(reopened, vectors[11], k=1)[0].shot_index == 11
    assert search_lines(reopened, minilm, "fingerprints on a window", k=1)[0].segment_index == 2
    keys = [o["Key"] for o in s3_server.client().list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert any(k.startswith("artifacts/lancedb/shots.lance/") for k in keys)

    # Concurrent titles on S3 (LanceDB commits with conditional PUTs there): all land.
    errors: list[BaseException] = []

    def write(title_id: str) -> None:
        try:
            VectorStore(uri, storage_options=options).replace_title(
                SHOTS, title_id, shot_rows(title_id, unit(np.random.default_rng(len(title_id)), 10)), MODEL)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(f"s3-par-{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert reopened.open(SHOTS).count_rows() == 40 + 30


def test_arrow_rows_are_accepted_as_well(store):
    rng = np.random.default_rng(8)
    rows = shot_rows("ep-1", unit(rng, 3))
    table = pa.Table.from_pylist(rows)
    assert store.replace_title(SHOTS, "ep-1", table, MODEL).title_rows == 3
