"""The catalogue's vector tables in LanceDB: one row per keyframe, transcript line, on-screen text.

Three tables live under ``<storage root>/lancedb`` (local disk or ``s3://`` through LanceDB's
own object-store client):

- ``shots``: a row per keyframe (a long shot has several), with the shot's bounds, the
  keyframe's time and path and the title's delivery metadata;
- ``transcript_segments``: a row per transcript segment, with its text and language;
- ``onscreen_text``: a row per on-screen text event, with its text, script, kind and time.
- ``voices``: a row per speaker of a track (speaker embedding centroid, speaking time, the
  delivery's series/season/episode and the ``series_voice`` id that links the same voice
  across a series' episodes).

Writes are per title and idempotent: :meth:`VectorStore.replace_title` replaces exactly that
title's rows in one commit (``merge_insert`` keyed by row id, deleting the title's rows that
are no longer there), so re-materializing a title never duplicates and never leaves a half
state. Two titles written at the same time both land: a commit that loses a race is retried.

The embedding model is part of a table's identity. Its id and dimension are stored in the
table's schema metadata; writing or querying with another model raises
:class:`ModelMismatch` (or, by policy, starts the table afresh for a re-embedding backfill),
so vectors of two embedding spaces are never mixed.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import numpy as np
import pyarrow as pa

from prism.audio.artifacts import TRANSCRIPT_SCHEMA
from prism.ids import validate_title_id
from prism.ocr.events import ONSCREEN_TEXT_SCHEMA
from prism.vectors.index import (
    IndexPolicy,
    ensure_fts_index,
    ensure_title_index,
    ensure_vector_index,
    ngram_fts,
)

log = logging.getLogger(__name__)

SHOTS = "shots"
SEGMENTS = "transcript_segments"
ONSCREEN = "onscreen_text"
VOICES = "voices"
TABLES = (SHOTS, SEGMENTS, ONSCREEN, VOICES)
TEXT_TABLES = (SEGMENTS, ONSCREEN)  # the tables with a full-text index on ``text``
TABLE_SCHEMA_VERSION = "1"
TRANSCRIPT_COLUMNS = ("track", "segment_index", "start_s", "end_s", "text", "language")
ONSCREEN_COLUMNS = ("event_index", "start_s", "end_s", "shot_index", "text", "script", "kind", "confidence")

MODEL_ID_KEY = b"prism.model_id"
DIM_KEY = b"prism.dim"
VERSION_KEY = b"prism.schema_version"

OnModelChange = Literal["fail", "recreate"]
T = TypeVar("T")


class VectorStoreError(RuntimeError):
    """The vector tables cannot be written or read as asked."""


class ModelMismatch(VectorStoreError):
    """A table holds vectors of one embedding model and another one was offered."""


@dataclass(frozen=True)
class EmbeddingModel:
    """Which embedding space a table's vectors live in."""

    model_id: str
    dim: int


def _vector_field(dim: int) -> pa.Field:
    return pa.field("vector", pa.list_(pa.float32(), dim), nullable=False)


def shots_schema(model: EmbeddingModel) -> pa.Schema:
    return pa.schema(
        [
            pa.field("id", pa.string(), nullable=False),  # "<title>/<shot>/<frame>"
            pa.field("title_id", pa.string(), nullable=False),
            pa.field("shot_index", pa.int32(), nullable=False),
            pa.field("frame_index", pa.int64(), nullable=False),
            pa.field("start_s", pa.float64(), nullable=False),
            pa.field("end_s", pa.float64(), nullable=False),
            pa.field("time_s", pa.float64(), nullable=False),  # the keyframe's presentation time
            pa.field("transition", pa.string()),
            pa.field("keyframe_path", pa.string(), nullable=False),  # relative to the title's artifacts
            pa.field("metadata", pa.string()),  # the delivery's metadata (series, episode…), JSON
            _vector_field(model.dim),
        ],
        metadata=model_metadata(model),
    )


def segments_schema(model: EmbeddingModel) -> pa.Schema:
    return pa.schema(
        [
            pa.field("id", pa.string(), nullable=False),  # "<title>/<track>/<segment>"
            pa.field("title_id", pa.string(), nullable=False),
            # The transcript's own columns, exactly as transcript.parquet types them.
            *(TRANSCRIPT_SCHEMA.field(name) for name in TRANSCRIPT_COLUMNS),
            pa.field("metadata", pa.string()),
            _vector_field(model.dim),
        ],
        metadata=model_metadata(model),
    )


def onscreen_schema(model: EmbeddingModel) -> pa.Schema:
    return pa.schema(
        [
            pa.field("id", pa.string(), nullable=False),  # "<title>/<event_index>"
            pa.field("title_id", pa.string(), nullable=False),
            # onscreen_text.parquet's own columns, exactly as it types them.
            *(ONSCREEN_TEXT_SCHEMA.field(name) for name in ONSCREEN_COLUMNS),
            pa.field("metadata", pa.string()),
            _vector_field(model.dim),
        ],
        metadata=model_metadata(model),
    )


def voices_schema(model: EmbeddingModel) -> pa.Schema:
    return pa.schema(
        [
            pa.field("id", pa.string(), nullable=False),  # "<title>/<track>/<speaker>"
            pa.field("title_id", pa.string(), nullable=False),
            pa.field("series", pa.string()),
            pa.field("season", pa.int32()),
            pa.field("episode", pa.int32()),
            pa.field("track", pa.int32(), nullable=False),
            pa.field("speaker", pa.string(), nullable=False),  # S1, S2… within the track
            pa.field("speaking_s", pa.float64(), nullable=False),
            pa.field("series_voice", pa.string()),  # stable across a series' episodes (null: no series)
            _vector_field(model.dim),
        ],
        metadata=model_metadata(model),
    )


SCHEMAS: dict[str, Callable[[EmbeddingModel], pa.Schema]] = {
    SHOTS: shots_schema, SEGMENTS: segments_schema, ONSCREEN: onscreen_schema, VOICES: voices_schema}


def model_metadata(model: EmbeddingModel) -> dict[bytes, bytes]:
    return {MODEL_ID_KEY: model.model_id.encode(), DIM_KEY: str(model.dim).encode(),
            VERSION_KEY: TABLE_SCHEMA_VERSION.encode()}


def vector_matrix(table: pa.Table, dim: int) -> np.ndarray:
    """The ``vector`` column as an (n, dim) array."""
    flat = table.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
    return flat.reshape(table.num_rows, dim)


def model_of_schema(schema: pa.Schema) -> EmbeddingModel | None:
    meta = schema.metadata or {}
    if MODEL_ID_KEY not in meta:
        return None
    return EmbeddingModel(meta[MODEL_ID_KEY].decode(), int(meta[DIM_KEY].decode()))


def title_filter(title_id: str) -> str:
    """A SQL predicate on one title. Title ids are validated (letters, digits, ``._-``), so the
    literal cannot break out of its quotes; quotes are doubled anyway, as SQL escapes them."""
    title_id = validate_title_id(title_id)
    return "title_id = '" + title_id.replace("'", "''") + "'"


def is_commit_conflict(exc: BaseException) -> bool:
    """LanceDB's error for a commit that lost a race with a concurrent writer (or a table
    created by another writer in between): safe to retry from a fresh read."""
    text = str(exc).lower()
    return any(s in text for s in ("conflict", "retryable", "already exists", "concurrent"))


def with_commit_retries(fn: Callable[[], T], *, what: str, attempts: int = 8,
                        base_delay: float = 0.05) -> T:
    for attempt in range(attempts):
        try:
            return fn()
        except Exception as exc:  # LanceDB raises plain RuntimeError/OSError/ValueError
            if attempt == attempts - 1 or not is_commit_conflict(exc):
                raise
            delay = base_delay * (2 ** attempt) * (1 + random.random())
            log.info("%s: commit conflict (%s); retrying in %.2fs", what, str(exc).splitlines()[0], delay)
            time.sleep(delay)
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class WriteResult:
    table: str
    title_rows: int
    table_rows: int
    vector_index: str  # what ensure_vector_index did ("deferred": lost to concurrent writers)
    text_index: str | None  # the transcript table's full-text index, when maintained
    recreated: bool = False


class VectorStore:
    """The shots, transcript-segment and on-screen text tables of one LanceDB database (local dir or
    s3://)."""

    def __init__(self, uri: str, *, storage_options: dict[str, str] | None = None,
                 index_policy: IndexPolicy | None = None, on_model_change: OnModelChange = "fail"):
        self.uri = uri
        self.storage_options = storage_options or {}
        self.index_policy = index_policy or IndexPolicy()
        self.on_model_change = on_model_change
        self._db: Any = None

    @classmethod
    def configured(cls, uri: str, *, s3_endpoint_url: str | None = None, s3_region: str | None = None,
                   index_min_rows: int = IndexPolicy.min_rows,
                   on_model_change: OnModelChange = "fail") -> VectorStore:
        """The store as Prism's settings describe it (the resource and ``prism.catalogue`` use this)."""
        options = lance_storage_options(uri, endpoint_url=s3_endpoint_url, region=s3_region)
        return cls(uri, storage_options=options, index_policy=IndexPolicy(min_rows=index_min_rows),
                   on_model_change=on_model_change)

    def __repr__(self) -> str:
        return f"VectorStore({self.uri!r})"

    @property
    def db(self) -> Any:
        if self._db is None:
            import lancedb  # here, not at import: it costs ~3 s of CPU, and most processes never connect

            self._db = lancedb.connect(self.uri, storage_options=self.storage_options or None)
        return self._db

    # -- reading ---------------------------------------------------------------
    def table_names(self) -> list[str]:
        return [n for n in self.db.list_tables().tables if n in TABLES]

    def open(self, name: str) -> Any | None:
        """The table, or None when nothing was written to it yet."""
        if name not in TABLES:
            raise VectorStoreError(f"unknown vector table {name!r} (known: {', '.join(TABLES)})")
        try:
            return self.db.open_table(name)
        except (ValueError, FileNotFoundError):
            return None

    def model_of(self, name: str) -> EmbeddingModel | None:
        table = self.open(name)
        return None if table is None else model_of_schema(table.schema)

    def check_model(self, name: str, model: EmbeddingModel) -> None:
        """Raise ModelMismatch when ``name`` holds vectors of a different model."""
        stored = self.model_of(name)
        if stored is not None and stored != model:
            raise ModelMismatch(_mismatch_message(name, stored, model))

    def title_row_count(self, name: str, title_id: str) -> int:
        table = self.open(name)
        return 0 if table is None else table.count_rows(title_filter(title_id))

    def title_ids(self, name: str, title_id: str) -> list[str]:
        table = self.open(name)
        if table is None:
            return []
        rows = table.search().where(title_filter(title_id)).select(["id"]).limit(None).to_arrow()
        return sorted(rows.column("id").to_pylist())

    def series_voices(self, series: str, *, exclude_title: str | None = None) -> pa.Table:
        """Every voice row of a series (optionally without one title's rows), vectors included."""
        table = self.open(VOICES)
        if table is None:
            return pa.table({})
        predicate = "series = '" + series.replace("'", "''") + "'"
        if exclude_title is not None:
            predicate += " AND NOT (" + title_filter(exclude_title) + ")"
        return table.search().where(predicate).limit(None).to_arrow()

    # -- writing ---------------------------------------------------------------
    def replace_title(self, name: str, title_id: str, rows: Iterable[dict] | pa.Table,
                      model: EmbeddingModel) -> WriteResult:
        """Make ``title_id``'s rows in table ``name`` exactly ``rows`` (one commit, retried on
        conflicts with concurrent writers), then bring the indexes up to date."""
        predicate = title_filter(title_id)
        schema = SCHEMAS[name](model)
        data = rows if isinstance(rows, pa.Table) else pa.Table.from_pylist(list(rows), schema=schema)
        data = data.cast(schema)
        _check_rows(name, title_id, data, model)
        table, recreated = self._table_for_write(name, model, schema)

        def commit() -> None:
            fresh = self.db.open_table(name)  # re-read: a retry must see the winner's commit
            if data.num_rows == 0:
                fresh.delete(predicate)
                return
            (fresh.merge_insert("id")
                  .when_matched_update_all()
                  .when_not_matched_insert_all()
                  .when_not_matched_by_source_delete(predicate)
                  .execute(data))

        with_commit_retries(commit, what=f"{name}: replace rows of {title_id}")
        # Indexes after the rows: the rows are committed whatever happens to index maintenance.
        self._maintain(name, "title index", ensure_title_index)
        vector_index = self._maintain(name, "vector index", lambda t: ensure_vector_index(t, self.index_policy))
        text_index = None
        if name == SEGMENTS:
            text_index = self._maintain(name, "full-text index", ensure_fts_index)
        elif name == ONSCREEN:  # n-grams: a Korean stem finds its inflected forms (부산 → 부산역에서)
            text_index = self._maintain(name, "full-text index",
                                        lambda t: ensure_fts_index(t, config=ngram_fts()))
        table_rows = self.db.open_table(name).count_rows()
        return WriteResult(table=name, title_rows=data.num_rows, table_rows=table_rows,
                           vector_index=vector_index, text_index=text_index, recreated=recreated)

    def _maintain(self, name: str, what: str, ensure: Callable[[Any], str]) -> str:
        """Run one index-maintenance step on a fresh view of the table. Losing every retry to
        concurrent writers (each maintaining the same index) is not an error: rows an index does
        not cover yet are still searched (flat), and the next write brings the index up to date."""
        try:
            return with_commit_retries(lambda: ensure(self.db.open_table(name)), what=f"{name}: {what}",
                                       attempts=4)
        except Exception as exc:
            if not is_commit_conflict(exc):
                raise
            log.warning("%s: %s deferred to a later write (%s)", name, what, str(exc).splitlines()[0])
            return "deferred"

    def delete_title(self, title_id: str) -> dict[str, int]:
        """Remove a title from every table (a withdrawn delivery). Returns rows removed per table."""
        removed = {}
        for name in self.table_names():
            table = self.db.open_table(name)
            before = table.count_rows(title_filter(title_id))
            with_commit_retries(lambda t=table: t.delete(title_filter(title_id)),
                                what=f"{name}: delete {title_id}")
            removed[name] = before
        return removed

    def _table_for_write(self, name: str, model: EmbeddingModel, schema: pa.Schema) -> tuple[Any, bool]:
        table = self.open(name)
        if table is None:
            # exist_ok: a concurrent writer may create it first; its schema is checked below.
            table = with_commit_retries(
                lambda: self.db.create_table(name, schema=schema, exist_ok=True), what=f"create {name}")
        stored = model_of_schema(table.schema)
        if stored == model:
            return table, False
        if self.on_model_change == "recreate":
            log.warning("%s: embedding model changed (%s -> %s); starting the table afresh",
                        name, stored, model)
            return self.db.create_table(name, schema=schema, mode="overwrite"), True
        raise ModelMismatch(_mismatch_message(name, stored, model))


def _mismatch_message(name: str, stored: EmbeddingModel | None, offered: EmbeddingModel) -> str:
    held = f"{stored.model_id} ({stored.dim}-dim)" if stored else "vectors of an unknown model"
    return (f"the LanceDB table {name!r} holds {held}, but the configured model is "
            f"{offered.model_id} ({offered.dim}-dim); vectors of two models cannot be compared. "
            "Re-embed the catalogue into a fresh table (PRISM_VECTORS_ON_MODEL_CHANGE=recreate, then "
            "re-materialize every title's embeddings and vectors), or configure the model the table was "
            "built with.")


def _check_rows(name: str, title_id: str, data: pa.Table, model: EmbeddingModel) -> None:
    if data.num_rows == 0:
        return
    titles = set(data.column("title_id").to_pylist())
    if titles != {title_id}:
        others = sorted(titles - {title_id})
        raise VectorStoreError(f"{name}: rows for {title_id} carry other title ids: {others}")
    ids = data.column("id").to_pylist()
    if len(set(ids)) != len(ids):
        raise VectorStoreError(f"{name}: duplicate row ids for {title_id}")
    if not np.isfinite(vector_matrix(data, model.dim)).all():
        raise VectorStoreError(f"{name}: {title_id} has non-finite vector values")


def lance_storage_options(uri: str, *, endpoint_url: str | None = None,
                          region: str | None = None) -> dict[str, str]:
    """LanceDB's own object-store options (not fsspec's) for an ``s3://`` database: endpoint
    and region; credentials come from the standard AWS chain (env, task role)."""
    if not uri.startswith("s3://"):
        return {}
    options: dict[str, str] = {}
    if endpoint_url:
        options["aws_endpoint"] = endpoint_url
        if endpoint_url.startswith("http://"):
            options["allow_http"] = "true"
    if region:
        options["aws_region"] = region
    return options


def metadata_json(metadata: dict[str, Any] | None) -> str | None:
    return None if not metadata else json.dumps(metadata, sort_keys=True, default=str)
