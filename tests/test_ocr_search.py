"""On-screen text in the catalogue's LanceDB (full-text over n-grams: Korean stems find inflected
forms) and the literal-first ranking of dialogue search, on real LanceDB with the bundled MiniLM."""

import pytest

from prism.vectors.search import Searcher, literal_tier, search_lines, search_onscreen
from prism.vectors.store import ONSCREEN, SEGMENTS, EmbeddingModel, VectorStore


@pytest.fixture(scope="module")
def minilm():
    from prism.embeddings.sentence import TransformersSentenceEmbedder, bundled_text_model_dir

    path = bundled_text_model_dir()
    if path is None:
        pytest.fail("the demo extra's all-MiniLM-L6-v2 is not installed (scripts/setup.sh test,demo)")
    return TransformersSentenceEmbedder(str(path), device="cpu")


@pytest.fixture
def store(tmp_path) -> VectorStore:
    return VectorStore(str(tmp_path / "lancedb"))


SIGNS = [("부산 해운대 시장", "sign", "Hang"), ("SEOUL STATION", "sign", "Latn"),
         ("부산역에서 만나요", "subtitle", "Hang"), ("서울역 2번 출구", "sign", "Hang"),
         ("Director Kim Minsu", "credit", "Latn")]


def onscreen_rows(title_id: str, embedder, signs=SIGNS) -> list[dict]:
    vectors = embedder.embed_texts([t for t, _, _ in signs])
    return [{"id": f"{title_id}/{i}", "title_id": title_id, "event_index": i, "start_s": 10.0 * i,
             "end_s": 10.0 * i + 4, "shot_index": i, "text": text, "script": script, "kind": kind,
             "confidence": 0.95, "metadata": None, "vector": vectors[i]}
            for i, (text, kind, script) in enumerate(signs)]


def test_onscreen_text_is_found_by_a_korean_stem_with_title_and_time(store, minilm):
    model = EmbeddingModel(minilm.model_id, minilm.dim)
    result = store.replace_title(ONSCREEN, "ep-1", onscreen_rows("ep-1", minilm), model)
    assert result.text_index == "built"
    store.replace_title(ONSCREEN, "ep-2", onscreen_rows("ep-2", minilm, SIGNS[1:2]), model)
    hits = search_onscreen(store, minilm, "부산", k=3)
    assert [(h.title_id, h.text) for h in hits[:2]] == [("ep-1", "부산 해운대 시장"),
                                                         ("ep-1", "부산역에서 만나요")]
    assert (hits[0].start_s, hits[0].end_s, hits[0].kind, hits[0].shot_index) == (0.0, 4.0, "sign", 0)
    assert search_onscreen(store, minilm, "seoul station", k=1, title_id="ep-2")[0].title_id == "ep-2"
    # Re-running a title replaces its rows exactly.
    store.replace_title(ONSCREEN, "ep-1", onscreen_rows("ep-1", minilm), model)
    assert store.title_row_count(ONSCREEN, "ep-1") == len(SIGNS)
    results = Searcher(store, text_embedder=minilm).search("부산", scope="onscreen", k=2)
    assert results.onscreen[0].text == "부산 해운대 시장" and results.lines == [] and results.shots == []


def test_literal_tiers():
    assert literal_tier("the storm", "Get ready, THE storm is here.") == 0
    assert literal_tier("storm harbour", "the harbour before the storm") == 1
    assert literal_tier("storm harbour", "a tempest at the port") == 2


PARAPHRASED = [
    "Secure the boat before the storm reaches the harbour tonight.",  # the query, word for word
    "Tie the vessel down, bad weather is coming to the port this evening.",  # a paraphrase
    "I never liked chocolate cake at birthday parties.",
    "Our train to Berlin leaves at seven in the morning.",
]


def test_a_verbatim_line_ranks_above_its_paraphrase(store, minilm):
    store.replace_title(SEGMENTS, "ep-1", [
        {"id": f"ep-1/0/{i}", "title_id": "ep-1", "track": 0, "segment_index": i, "start_s": 2.0 * i,
         "end_s": 2.0 * i + 1.5, "text": t, "language": "en", "metadata": None, "vector": v}
        for i, (t, v) in enumerate(zip(PARAPHRASED, minilm.embed_texts(PARAPHRASED), strict=True))],
        EmbeddingModel(minilm.model_id, minilm.dim))
    for query in ("the storm reaches the harbour tonight", "harbour storm boat"):
        hits = search_lines(store, minilm, query, k=3)
        assert hits[0].segment_index == 0, (query, [(h.text, h.score) for h in hits])
        assert hits[1].segment_index == 1
