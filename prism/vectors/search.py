"""Search over the catalogue's vector tables: text → shot, shot → similar shots, text → dialogue,
text → on-screen text.

- **Text → shot** places the query in the image space through the visual model's text tower
  (CLIP/SigLIP) and returns the nearest keyframes, best keyframe per shot. A visual model
  without a text tower (the built-in colour-layout descriptor, ViT/DINOv2) cannot do this:
  the search says so (:class:`NoTextTower`) instead of returning noise.
- **Shot → similar shots** (``TITLE:SHOT``) queries with the shot's own keyframe vectors.
- **Text → dialogue** over transcript segments is hybrid: the sentence-embedding neighbours
  and LanceDB's full-text (BM25) matches, fused by reciprocal rank; without a full-text index
  it is vector search alone. Reciprocal-rank fusion gives a line that holds the query word for
  word and a paraphrase of it near-equal scores (and the vector side then decides), so the fused
  list is re-ranked by how literally each line matches: the exact phrase first, then lines with
  all of the query's words, then the rest, each group in fused order (:func:`literal_tier`).
- **Text → on-screen text** (signs, credits, burned-in subtitles) is the same hybrid search over
  the ``onscreen_text`` table, whose full-text index is on character n-grams so that a Korean
  stem ("부산") finds its inflected forms ("부산역에서").

Queries are untrusted: control characters are dropped, whitespace collapsed, length capped
(:data:`MAX_QUERY_CHARS`); an empty query is an error; filters are built only from validated
title ids. :class:`Searcher` is the entry point the CLI and a backend call.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from prism.embeddings.base import ImageEmbedder, NoTextTower, TextEmbedder, l2_normalize
from prism.ids import InvalidTitleId, validate_title_id
from prism.vectors.index import vector_query
from prism.vectors.store import ONSCREEN, SEGMENTS, SHOTS, EmbeddingModel, VectorStore, title_filter

MAX_QUERY_CHARS = 1000
MAX_K = 200
Scope = Literal["all", "shots", "transcripts", "onscreen"]


class SearchError(ValueError):
    """The query cannot be run as given (empty, malformed reference, unknown shot…)."""


@dataclass(frozen=True)
class ShotHit:
    title_id: str
    shot_index: int
    start_s: float
    end_s: float
    time_s: float  # the best-matching keyframe's time
    keyframe_path: str  # relative to the title's artifacts (titles/<id>/…)
    score: float  # cosine similarity to the query, -1…1


@dataclass(frozen=True)
class LineHit:
    title_id: str
    track: int
    segment_index: int
    start_s: float
    end_s: float
    text: str
    language: str | None
    score: float  # fused rank score (hybrid) or cosine similarity (vector only)
    similarity: float  # cosine similarity of the line to the query


@dataclass(frozen=True)
class OnscreenHit:
    title_id: str
    event_index: int
    start_s: float
    end_s: float
    shot_index: int
    text: str
    kind: str  # subtitle | credit | title | sign
    script: str
    score: float  # fused rank score (hybrid) or cosine similarity (vector only)


@dataclass
class SearchResults:
    query: str | None = None
    like: str | None = None
    title_id: str | None = None
    shots: list[ShotHit] = field(default_factory=list)
    lines: list[LineHit] = field(default_factory=list)
    onscreen: list[OnscreenHit] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # why a part of the search could not run

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def clean_query(query: str | None) -> str:
    """The query as text to embed and match: NFC, no control characters, single spaces,
    at most MAX_QUERY_CHARS. Raises SearchError when nothing is left."""
    text = unicodedata.normalize("NFC", query or "")
    text = " ".join(_CONTROL.sub(" ", text).split())
    if not text:
        raise SearchError("the search query is empty")
    return text[:MAX_QUERY_CHARS]


def _fts_text(query: str) -> str:
    """The query for the BM25 side: words only, so quotes, operators or SQL-looking text in a
    query are matched as words rather than parsed as query syntax."""
    return " ".join(re.findall(r"\w+", query))


def parse_shot_ref(ref: str) -> tuple[str, int]:
    """``TITLE:SHOT`` → (title id, shot index)."""
    title, sep, shot = (ref or "").strip().rpartition(":")
    if not sep or not shot.isdigit():
        raise SearchError(f"--like expects TITLE:SHOT (e.g. demo-title:3), got {ref!r}")
    try:
        return validate_title_id(title), int(shot)
    except InvalidTitleId as exc:
        raise SearchError(f"--like {ref!r}: {exc}") from None


def _check_k(k: int) -> int:
    if not 1 <= k <= MAX_K:
        raise SearchError(f"k must be between 1 and {MAX_K}, got {k}")
    return k


def _where(title_id: str | None) -> str | None:
    return title_filter(title_id) if title_id else None


def _shot_hits(rows: list[dict], query: np.ndarray, k: int,
               exclude: tuple[str, int] | None = None) -> list[ShotHit]:
    """Best keyframe per shot, in order of similarity."""
    best: dict[tuple[str, int], ShotHit] = {}
    for r in rows:
        key = (r["title_id"], int(r["shot_index"]))
        if key == exclude:
            continue
        score = float(np.dot(np.asarray(r["vector"], dtype=np.float32), query))
        if key not in best or score > best[key].score:
            best[key] = ShotHit(r["title_id"], key[1], r["start_s"], r["end_s"], r["time_s"],
                                r["keyframe_path"], round(score, 6))
    return sorted(best.values(), key=lambda h: (-h.score, h.title_id, h.shot_index))[:k]


def nearest_shots(store: VectorStore, vector: np.ndarray, *, k: int, title_id: str | None = None,
                  exclude: tuple[str, int] | None = None) -> list[ShotHit]:
    table = store.open(SHOTS)
    if table is None:
        return []
    vector = l2_normalize(vector.reshape(1, -1))[0]
    # Shots have several keyframes: over-fetch so k distinct shots survive the per-shot merge.
    fetch = min(k * 4 + 8, 4 * MAX_K)
    rows = vector_query(table, vector, fetch, store.index_policy, where=_where(title_id)).to_list()
    return _shot_hits(rows, vector, k, exclude)


def search_shots(store: VectorStore, embedder: ImageEmbedder, query: str, *, k: int = 10,
                 title_id: str | None = None) -> list[ShotHit]:
    """Text → shot through the visual model's text tower (NoTextTower when it has none)."""
    query = clean_query(query)
    if not embedder.has_text_tower:
        raise NoTextTower(
            f"the visual model {embedder.model_id} embeds images only, so it cannot place a text query "
            "among shots; text→shot search needs a CLIP/SigLIP model (set PRISM_VISUAL_MODEL_SOURCE). "
            "Dialogue search and --like still work.")
    store.check_model(SHOTS, EmbeddingModel(embedder.model_id, embedder.dim))
    vector = embedder.embed_text_queries([query])[0]
    return nearest_shots(store, vector, k=_check_k(k), title_id=title_id)


def similar_shots(store: VectorStore, ref: str, *, k: int = 10, title_id: str | None = None) -> list[ShotHit]:
    """Shots that look like shot ``TITLE:SHOT`` (its keyframe vectors, averaged), itself excluded."""
    ref_title, shot = parse_shot_ref(ref)
    table = store.open(SHOTS)
    if table is None:
        raise SearchError("no shots have been indexed yet (materialize `vectors` for a title first)")
    own = (table.search().where(f"{title_filter(ref_title)} AND shot_index = {shot}")
           .select(["vector"]).limit(None).to_arrow())
    if own.num_rows == 0:
        raise SearchError(f"shot {shot} of title {ref_title} is not in the index "
                          "(no such shot, or its vectors were not materialized)")
    vectors = np.asarray(own.column("vector").to_pylist(), dtype=np.float32)
    query = l2_normalize(vectors.mean(axis=0, keepdims=True))[0]
    return nearest_shots(store, query, k=_check_k(k), title_id=title_id, exclude=(ref_title, shot))


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", unicodedata.normalize("NFC", text).casefold())


def literal_tier(query: str, text: str) -> int:
    """0: the line holds the query's words as one phrase; 1: all of them, anywhere; 2: otherwise."""
    q, t = _words(query), _words(text)
    if not q:
        return 2
    if any(t[i:i + len(q)] == q for i in range(len(t) - len(q) + 1)):
        return 0
    return 1 if set(q) <= set(t) else 2


def embed_text_query(embedder: TextEmbedder, query: str) -> np.ndarray:
    """The query's vector. A model that embeds queries differently from what it indexed (a managed
    model's retrieval purpose) offers embed_text_queries; a sentence embedder embeds both alike."""
    embed_query = getattr(embedder, "embed_text_queries", None) or embedder.embed_texts
    return embed_query([query])[0]


class QueryVector:
    """A text query's vector, embedded on first use and then reused: one search over several text
    tables (dialogue, on-screen text) pays for one embedding (one request to a managed model)."""

    def __init__(self, embedder: TextEmbedder, query: str):
        self.embedder, self.query = embedder, query
        self._vector: np.ndarray | None = None

    def __call__(self) -> np.ndarray:
        if self._vector is None:
            self._vector = embed_text_query(self.embedder, self.query)
        return self._vector


def _hybrid(store: VectorStore, name: str, embedder: TextEmbedder, query: str, k: int,
            title_id: str | None, query_vector: QueryVector | None = None) -> list[tuple[dict, float, float]]:
    """(row, score, similarity) of the best ``k`` rows of a text table for the query: hybrid vector +
    full-text search (fused by reciprocal rank, re-ranked by :func:`literal_tier`), or vector search
    alone when the table has no full-text index."""
    table = store.open(name)
    if table is None:
        return []
    store.check_model(name, EmbeddingModel(embedder.model_id, embedder.dim))
    vector = (query_vector or QueryVector(embedder, query))()
    where = _where(title_id)
    words = _fts_text(query)
    has_fts = any(ix.index_type == "FTS" for ix in table.list_indices())
    # More candidates than asked for: the literal re-ranking may lift a line from below the k-th.
    fetch = min(max(2 * k, k + 10), 4 * MAX_K)
    if has_fts and words:
        q = table.search(query_type="hybrid").vector(vector).text(words).limit(fetch)
        if where:
            q = q.where(where, prefilter=True)
        rows = q.to_list()
        score_of = "_relevance_score"
    else:
        rows = vector_query(table, vector, fetch, store.index_policy, where=where).to_list()
        score_of = None
    scored = []
    for r in rows:
        similarity = float(np.dot(np.asarray(r["vector"], dtype=np.float32), vector))
        score = float(r[score_of]) if score_of else similarity
        scored.append((r, score, similarity))
    scored.sort(key=lambda item: (literal_tier(query, item[0]["text"]), -item[1]))
    return scored[:k]


def search_lines(store: VectorStore, embedder: TextEmbedder, query: str, *, k: int = 10,
                 title_id: str | None = None, query_vector: QueryVector | None = None) -> list[LineHit]:
    """Text → transcript lines: hybrid vector + full-text search, fused by reciprocal rank, literal
    matches first."""
    query = clean_query(query)
    _check_k(k)
    return [LineHit(r["title_id"], int(r["track"]), int(r["segment_index"]), r["start_s"], r["end_s"],
                    r["text"], r.get("language"), round(score, 6), round(similarity, 6))
            for r, score, similarity in _hybrid(store, SEGMENTS, embedder, query, k, title_id, query_vector)]


def search_onscreen(store: VectorStore, embedder: TextEmbedder, query: str, *, k: int = 10,
                    title_id: str | None = None, query_vector: QueryVector | None = None) -> list[OnscreenHit]:
    """Text → on-screen text events (signs, credits, titles, burned-in subtitles)."""
    query = clean_query(query)
    _check_k(k)
    return [OnscreenHit(r["title_id"], int(r["event_index"]), r["start_s"], r["end_s"], int(r["shot_index"]),
                        r["text"], r["kind"], r["script"], round(score, 6))
            for r, score, _ in _hybrid(store, ONSCREEN, embedder, query, k, title_id, query_vector)]


class Searcher:
    """The catalogue search a CLI or backend calls: one vector store and the two embedders
    (loaded on first use; the text tower is only needed for text → shot)."""

    def __init__(self, store: VectorStore, *, image_embedder: Any = None, text_embedder: Any = None):
        # Embedders may be given as instances or as zero-argument loaders (loaded lazily).
        self.store = store
        self._image = image_embedder
        self._text = text_embedder

    def _resolve(self, attr: str) -> Any:
        value = getattr(self, attr)
        if callable(value) and not isinstance(value, ImageEmbedder | TextEmbedder):
            value = value()
            setattr(self, attr, value)
        return value

    @property
    def image_embedder(self) -> ImageEmbedder:
        return self._resolve("_image")

    @property
    def text_embedder(self) -> TextEmbedder:
        return self._resolve("_text")

    def search(self, query: str | None = None, *, like: str | None = None, k: int = 10,
               title_id: str | None = None, scope: Scope = "all") -> SearchResults:
        if (query is None) == (like is None):
            raise SearchError("give either a text query or --like TITLE:SHOT")
        _check_k(k)
        if title_id is not None:
            try:
                title_id = validate_title_id(title_id)
            except InvalidTitleId as exc:
                raise SearchError(f"--title: {exc}") from None
        if like is not None:
            return SearchResults(like=like, title_id=title_id,
                                 shots=similar_shots(self.store, like, k=k, title_id=title_id))
        results = SearchResults(query=clean_query(query), title_id=title_id)
        if scope in ("all", "shots"):
            try:
                results.shots = search_shots(self.store, self.image_embedder, results.query, k=k,
                                             title_id=title_id)
            except NoTextTower as exc:
                if scope == "shots":
                    raise
                results.notes.append(str(exc))
        if scope in ("all", "transcripts", "onscreen"):
            text_query = QueryVector(self.text_embedder, results.query)  # one embedding for both tables
        if scope in ("all", "transcripts"):
            results.lines = search_lines(self.store, self.text_embedder, results.query, k=k, title_id=title_id,
                                         query_vector=text_query)
        if scope in ("all", "onscreen"):
            results.onscreen = search_onscreen(self.store, self.text_embedder, results.query, k=k,
                                               title_id=title_id, query_vector=text_query)
        return results
