"""The catalogue rows of one title: its embedded artifacts joined with what each row shows.

Ids are stable (``<title>/<shot>/<frame>``, ``<title>/<track>/<segment>``, ``<title>/<event>``), so
re-publishing a title replaces its rows exactly.
"""

from __future__ import annotations

import pyarrow as pa

from prism.vectors.store import EmbeddingModel, VectorStoreError, vector_matrix


def shot_rows(title_id: str, embedded: pa.Table, model: EmbeddingModel, shots_table: pa.Table,
              metadata: str | None) -> list[dict]:
    vectors = vector_matrix(embedded, model.dim)
    bounds = {r["shot_index"]: r for r in shots_table.to_pylist()}
    rows = []
    for i, r in enumerate(embedded.drop_columns(["vector"]).to_pylist()):
        shot = bounds.get(r["shot_index"])
        if shot is None:
            raise VectorStoreError(f"title {title_id}: keyframe of shot {r['shot_index']} has no shot in "
                                   "shots.parquet; re-materialize `keyframes` and `visual_embeddings`")
        rows.append({"id": f"{title_id}/{r['shot_index']}/{r['frame_index']}", "title_id": title_id,
                     "shot_index": r["shot_index"], "frame_index": r["frame_index"],
                     "start_s": shot["start_s"], "end_s": shot["end_s"], "time_s": r["time_s"],
                     "transition": shot["transition"], "keyframe_path": r["path"], "metadata": metadata,
                     "vector": vectors[i]})
    return rows


def segment_rows(title_id: str, embedded: pa.Table, model: EmbeddingModel, metadata: str | None) -> list[dict]:
    vectors = vector_matrix(embedded, model.dim)
    return [{"id": f"{title_id}/{r['track']}/{r['segment_index']}", "title_id": title_id, **r,
             "metadata": metadata, "vector": vectors[i]}
            for i, r in enumerate(embedded.drop_columns(["vector"]).to_pylist())]


def onscreen_rows(title_id: str, embedded: pa.Table, model: EmbeddingModel, metadata: str | None) -> list[dict]:
    vectors = vector_matrix(embedded, model.dim)
    return [{"id": f"{title_id}/{r['event_index']}", "title_id": title_id, **r,
             "metadata": metadata, "vector": vectors[i]}
            for i, r in enumerate(embedded.drop_columns(["vector"]).to_pylist())]
