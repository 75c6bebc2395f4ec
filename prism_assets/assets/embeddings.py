"""Embedding assets and the catalogue's vector tables.

    keyframes ── visual_embeddings ───────────────┐
    transcript ── text_embeddings ────────────────┤
    onscreen_text ── onscreen_text_embeddings ────┴─ vectors (LanceDB: shots, transcript_segments,
                                                              onscreen_text)

The embeddings are per-title Parquet artifacts (``keyframe_embeddings.parquet``,
``transcript_embeddings.parquet``, ``onscreen_text_embeddings.parquet``) so that re-indexing, a
new vector store or the export bundle never needs a GPU again; ``vectors`` then replaces exactly
this title's rows in the shared LanceDB tables. Analysis lives in ``prism.embeddings`` and ``prism.vectors``.
"""

import io
import time

import numpy as np
import pyarrow as pa
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)
from PIL import Image

from prism.embeddings import BUILTIN_COLOR_LAYOUT
from prism.embeddings.base import EmbeddingError
from prism.settings import get_settings
from prism.storage import ArtifactStore
from prism.vectors.rows import onscreen_rows, segment_rows, shot_rows
from prism.vectors.store import (
    ONSCREEN,
    ONSCREEN_COLUMNS,
    SEGMENTS,
    SHOTS,
    TRANSCRIPT_COLUMNS,
    EmbeddingModel,
    VectorStoreError,
    metadata_json,
    model_metadata,
    model_of_schema,
)
from prism_assets.assets.audio import transcript
from prism_assets.assets.inputs import require_artifacts
from prism_assets.assets.visual import KEYFRAMES, ONSCREEN_TEXT, keyframes, onscreen_text
from prism_assets.assets.visual import SHOTS as SHOTS_PARQUET
from prism_assets.compute import embedder_needs_gpu, gpu_step_if, uses_models
from prism_assets.partitions import title_of, titles
from resources import ArtifactStorage, TextEmbeddingModel, VectorIndex, VisualEmbeddingModel
from resources.models import IMAGE_EMBEDDING, TEXT_EMBEDDING

KEYFRAME_EMBEDDINGS = "keyframe_embeddings.parquet"
TRANSCRIPT_EMBEDDINGS = "transcript_embeddings.parquet"
ONSCREEN_EMBEDDINGS = "onscreen_text_embeddings.parquet"
TRANSCRIPT = "transcript.parquet"
VECTORS_MATCH = "vectors_match_artifacts"
# Keyframes decoded and embedded per chunk: memory stays flat however many shots a title has.
IMAGE_CHUNK = 64


def _embedding_inputs(context: AssetExecutionContext, storage: ArtifactStorage, model, name: str,
                      producer: str) -> tuple[str, ArtifactStore, pa.Table, object]:
    """(title id, store, the input artifact, the loaded embedder), or a Failure naming the title."""
    title_id, store, table = _input_of(context, storage, name, producer)
    return title_id, store, table, _loaded(title_id, model)


def _input_of(context: AssetExecutionContext, storage: ArtifactStorage, name: str, producer: str
              ) -> tuple[str, ArtifactStore, pa.Table]:
    title_id = title_of(context)
    store = storage.store()
    require_artifacts(store, title_id, (name, producer))
    return title_id, store, store.read_table(title_id, name)


def _loaded(title_id: str, model):
    try:
        return model.embedder()
    except EmbeddingError as exc:
        raise Failure(f"title {title_id}: {exc}") from None


def _text_model_identity(title_id: str, text_embedding: TextEmbeddingModel) -> EmbeddingModel:
    """The configured text model's id and dimension, for an empty artifact: read from the
    checkpoint's files when they tell (a title with no dialogue or no on-screen text loads no
    model), from the loaded model otherwise."""
    try:
        return EmbeddingModel(*text_embedding.identity())
    except EmbeddingError as exc:
        raise Failure(f"title {title_id}: {exc}") from None


def _embedded(title_id: str, embed, items) -> np.ndarray:
    """``embed(items)``, with a failure of the model (a refused or unreachable managed service, an
    input the model rejects) reported as this title's Failure."""
    try:
        return embed(items)
    except EmbeddingError as exc:
        raise Failure(f"title {title_id}: {exc}") from None


def usage_metadata(embedder, before: dict[str, int] | None) -> dict[str, int]:
    """What a managed backend was sent for this materialization (calls, images, characters, cache
    hits, retries), so the cost of a title can be read in the UI; nothing for a local model."""
    usage = getattr(embedder, "usage", None)
    if usage is None or before is None:
        return {}
    return {f"api_{name}": value for name, value in usage.since(before).items()}


def _usage_before(embedder) -> dict[str, int] | None:
    usage = getattr(embedder, "usage", None)
    return usage.snapshot() if usage is not None else None


def _with_vectors(columns: dict[str, pa.Array], vectors: np.ndarray, model: EmbeddingModel) -> pa.Table:
    """The input columns plus ``vector``, tagged with the model that made the vectors."""
    flat = pa.array(vectors.astype(np.float32, copy=False).reshape(-1), type=pa.float32())
    table = pa.table({**columns, "vector": pa.FixedSizeListArray.from_arrays(flat, model.dim)})
    return table.replace_schema_metadata(model_metadata(model))


def embedding_model_of(title_id: str, name: str, table: pa.Table) -> EmbeddingModel:
    model = model_of_schema(table.schema)
    if model is None:
        raise Failure(f"title {title_id}: {name} does not say which model made its vectors; re-materialize it")
    return model


# -- visual_embeddings ------------------------------------------------------
@asset(
    partitions_def=titles,
    deps=[keyframes],
    group_name="embeddings",
    code_version="visual-embeddings-1",
    kinds={"pytorch", "parquet"},
    description="One L2-normalised vector per keyframe (keyframe_embeddings.parquet) from the visual "
    "model (PRISM_VISUAL_MODEL_SOURCE: a CLIP/SigLIP checkpoint, or bedrock:<model id> for Amazon Bedrock; "
    "default the built-in image-only colour-layout descriptor). Batched; fp16 on GPU. A managed backend "
    "reports the calls, images and characters it sent (api_* metadata).",
    **uses_models(IMAGE_EMBEDDING, step=gpu_step_if(
        embedder_needs_gpu(get_settings().visual_model_source or BUILTIN_COLOR_LAYOUT))),
)
def visual_embeddings(context: AssetExecutionContext, storage: ArtifactStorage,
                      visual_embedding: VisualEmbeddingModel) -> MaterializeResult:
    title_id, store, frames, embedder = _embedding_inputs(context, storage, visual_embedding, KEYFRAMES,
                                                          "keyframes")
    paths = frames.column("path").to_pylist()
    before = _usage_before(embedder)
    started = time.perf_counter()
    chunks = []
    for at in range(0, len(paths), IMAGE_CHUNK):
        images = []
        for rel in paths[at:at + IMAGE_CHUNK]:
            try:
                with Image.open(io.BytesIO(store.read_bytes(title_id, rel))) as im:
                    images.append(im.convert("RGB"))
            except (OSError, FileNotFoundError) as exc:
                raise Failure(f"title {title_id}: keyframe {rel} cannot be read ({exc}); "
                              "re-materialize `keyframes`") from None
        chunks.append(_embedded(title_id, embedder.embed_images, images))
    elapsed = time.perf_counter() - started
    vectors = np.concatenate(chunks) if chunks else np.zeros((0, embedder.dim), np.float32)
    columns = ("shot_index", "frame_index", "time_s", "path")
    table = _with_vectors({name: frames.column(name) for name in columns}, vectors,
                          EmbeddingModel(embedder.model_id, embedder.dim))
    store.write_table(title_id, KEYFRAME_EMBEDDINGS, table)
    return MaterializeResult(metadata={
        "model_id": embedder.model_id,
        "dim": embedder.dim,
        "text_tower": embedder.has_text_tower,
        "keyframes": len(paths),
        "images_per_s": round(len(paths) / max(elapsed, 1e-9), 1),
        "keyframe_embeddings": MetadataValue.path(store.uri_of(title_id, KEYFRAME_EMBEDDINGS)),
        **usage_metadata(embedder, before),
    })


# -- text_embeddings ----------------------------------------------------------
@asset(
    partitions_def=titles,
    deps=[transcript],
    group_name="embeddings",
    code_version="text-embeddings-1",
    kinds={"pytorch", "parquet"},
    description="One L2-normalised vector per transcript segment (transcript_embeddings.parquet) from "
    "the sentence embedder (PRISM_TEXT_MODEL_SOURCE, or bedrock:<model id>; default the demo extra's "
    "all-MiniLM-L6-v2). A managed backend reports the calls and characters it sent (api_* metadata).",
    **uses_models(TEXT_EMBEDDING, step=gpu_step_if(embedder_needs_gpu(get_settings().text_model_source))),
)
def text_embeddings(context: AssetExecutionContext, storage: ArtifactStorage,
                    text_embedding: TextEmbeddingModel) -> MaterializeResult:
    title_id, store, lines = _input_of(context, storage, TRANSCRIPT, "transcript")
    texts = lines.column("text").to_pylist()
    if not texts:  # no dialogue: an empty artifact naming the model, and no model loaded for it
        model = _text_model_identity(title_id, text_embedding)
        empty = np.zeros((0, model.dim), np.float32)
        store.write_table(title_id, TRANSCRIPT_EMBEDDINGS, _with_vectors(
            {name: lines.column(name) for name in TRANSCRIPT_COLUMNS}, empty, model))
        return MaterializeResult(metadata={
            "model_id": model.model_id, "dim": model.dim, "segments": 0, "segments_per_s": 0.0,
            "transcript_embeddings": MetadataValue.path(store.uri_of(title_id, TRANSCRIPT_EMBEDDINGS)),
        })
    embedder = _loaded(title_id, text_embedding)
    before = _usage_before(embedder)
    started = time.perf_counter()
    vectors = _embedded(title_id, embedder.embed_texts, texts)
    elapsed = time.perf_counter() - started
    table = _with_vectors({name: lines.column(name) for name in TRANSCRIPT_COLUMNS}, vectors,
                          EmbeddingModel(embedder.model_id, embedder.dim))
    store.write_table(title_id, TRANSCRIPT_EMBEDDINGS, table)
    return MaterializeResult(metadata={
        "model_id": embedder.model_id,
        "dim": embedder.dim,
        "segments": len(texts),
        "segments_per_s": round(len(texts) / max(elapsed, 1e-9), 1),
        "transcript_embeddings": MetadataValue.path(store.uri_of(title_id, TRANSCRIPT_EMBEDDINGS)),
        **usage_metadata(embedder, before),
    })


# -- onscreen_text_embeddings -------------------------------------------------
@asset(
    partitions_def=titles,
    deps=[onscreen_text],
    group_name="embeddings",
    code_version="onscreen-text-embeddings-1",
    kinds={"pytorch", "parquet"},
    description="One L2-normalised vector per on-screen text event (onscreen_text_embeddings.parquet) "
    "from the sentence embedder that embeds the transcript (a CPU step: a title has few such lines).",
    **uses_models(TEXT_EMBEDDING),
)
def onscreen_text_embeddings(context: AssetExecutionContext, storage: ArtifactStorage,
                             text_embedding: TextEmbeddingModel) -> MaterializeResult:
    title_id, store, events = _input_of(context, storage, ONSCREEN_TEXT, "onscreen_text")
    texts = events.column("text").to_pylist()
    if texts:
        embedder = _loaded(title_id, text_embedding)
        model, vectors = EmbeddingModel(embedder.model_id, embedder.dim), embedder.embed_texts(texts)
    else:  # no on-screen text: no model loaded for it
        model = _text_model_identity(title_id, text_embedding)
        vectors = np.zeros((0, model.dim), np.float32)
    table = _with_vectors({name: events.column(name) for name in ONSCREEN_COLUMNS}, vectors, model)
    store.write_table(title_id, ONSCREEN_EMBEDDINGS, table)
    return MaterializeResult(metadata={
        "model_id": model.model_id,
        "events": len(texts),
        "onscreen_text_embeddings": MetadataValue.path(store.uri_of(title_id, ONSCREEN_EMBEDDINGS)),
    })


# -- vectors -----------------------------------------------------------------
def _delivery_metadata(store: ArtifactStore, title_id: str) -> str | None:
    if not store.exists(title_id, "delivery.json"):
        return None
    manifest = store.read_json(title_id, "delivery.json").get("manifest", {})
    keep = ("title_name", "series", "season", "episode", "provider", "delivered_at")
    return metadata_json({k: manifest[k] for k in keep if manifest.get(k) is not None})


@asset(
    partitions_def=titles,
    deps=[visual_embeddings, text_embeddings, onscreen_text_embeddings],
    group_name="embeddings",
    code_version="vectors-2",
    kinds={"lancedb"},
    check_specs=[AssetCheckSpec(VECTORS_MATCH, asset="vectors", blocking=True,
                                description="The title's rows in LanceDB are exactly its embedding "
                                "artifacts (same ids, no duplicates).")],
    description="Replaces this title's rows in the LanceDB tables `shots` (one per keyframe), "
    "`transcript_segments` and `onscreen_text` under <storage>/lancedb: idempotent per title, safe with "
    "concurrent titles; full-text indexes on transcript and on-screen text, ANN index past "
    "PRISM_VECTOR_INDEX_MIN_ROWS rows.",
)
def vectors(context: AssetExecutionContext, storage: ArtifactStorage,
            vector_index: VectorIndex) -> MaterializeResult:
    title_id = title_of(context)
    store = storage.store()
    require_artifacts(store, title_id, (KEYFRAME_EMBEDDINGS, "visual_embeddings"),
                      (TRANSCRIPT_EMBEDDINGS, "text_embeddings"), (SHOTS_PARQUET, "shots"),
                      (ONSCREEN_EMBEDDINGS, "onscreen_text_embeddings"))
    keyframe_vectors = store.read_table(title_id, KEYFRAME_EMBEDDINGS)
    line_vectors = store.read_table(title_id, TRANSCRIPT_EMBEDDINGS)
    metadata = _delivery_metadata(store, title_id)
    visual_model = embedding_model_of(title_id, KEYFRAME_EMBEDDINGS, keyframe_vectors)
    text_model = embedding_model_of(title_id, TRANSCRIPT_EMBEDDINGS, line_vectors)
    onscreen_vectors = store.read_table(title_id, ONSCREEN_EMBEDDINGS)
    onscreen_model = embedding_model_of(title_id, ONSCREEN_EMBEDDINGS, onscreen_vectors)
    shots_table = store.read_table(title_id, SHOTS_PARQUET)
    try:
        planned = {
            SHOTS: (shot_rows(title_id, keyframe_vectors, visual_model, shots_table, metadata), visual_model),
            SEGMENTS: (segment_rows(title_id, line_vectors, text_model, metadata), text_model),
            ONSCREEN: (onscreen_rows(title_id, onscreen_vectors, onscreen_model, metadata), onscreen_model),
        }
    except VectorStoreError as exc:
        raise Failure(str(exc)) from None
    db = vector_index.store()
    results = {}
    try:
        if db.on_model_change == "fail":  # both tables checked before either is written
            for name, (_, model) in planned.items():
                db.check_model(name, model)
        for name, (rows, model) in planned.items():
            results[name] = db.replace_title(name, title_id, rows, model)
    except VectorStoreError as exc:
        raise Failure(f"title {title_id}: {exc}") from None

    problems = []
    for name, (rows, _) in planned.items():
        stored = db.title_ids(name, title_id)
        expected = sorted(r["id"] for r in rows)
        if stored != expected:
            problems.append(f"{name}: {len(stored)} rows in LanceDB, {len(expected)} expected")
    check = AssetCheckResult(
        check_name=VECTORS_MATCH, passed=not problems, severity=AssetCheckSeverity.ERROR,
        description="; ".join(problems) or
        f"{results[SHOTS].title_rows} keyframe, {results[SEGMENTS].title_rows} segment and "
        f"{results[ONSCREEN].title_rows} on-screen text rows")
    return MaterializeResult(
        metadata={
            "lancedb_uri": db.uri,  # a database prefix, not one object
            "shot_rows": results[SHOTS].title_rows,
            "segment_rows": results[SEGMENTS].title_rows,
            "shots_table_rows": results[SHOTS].table_rows,
            "segments_table_rows": results[SEGMENTS].table_rows,
            "visual_model": planned[SHOTS][1].model_id,
            "text_model": planned[SEGMENTS][1].model_id,
            "shots_vector_index": results[SHOTS].vector_index,
            "segments_vector_index": results[SEGMENTS].vector_index,
            "segments_text_index": results[SEGMENTS].text_index or "none",
            "onscreen_rows": results[ONSCREEN].title_rows,
            "onscreen_text_index": results[ONSCREEN].text_index or "none",
            "recreated_tables": ", ".join(n for n, r in results.items() if r.recreated) or "none",
        },
        check_results=[check],
    )


EMBEDDING_ASSETS = [visual_embeddings, text_embeddings, onscreen_text_embeddings, vectors]
