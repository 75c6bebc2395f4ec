"""Catalogue rows of one title (prism.vectors.rows): stable ids, shot bounds joined, bad joins refused."""

import numpy as np
import pyarrow as pa
import pytest

from prism.vectors.rows import onscreen_rows, segment_rows, shot_rows
from prism.vectors.store import EmbeddingModel, VectorStoreError

MODEL = EmbeddingModel("test-model", 4)


def _embedded(rows: list[dict]) -> pa.Table:
    vectors = np.eye(4, dtype=np.float32)[: len(rows)]
    return pa.Table.from_pylist([{**r, "vector": v.tolist()} for r, v in zip(rows, vectors, strict=True)])


SHOTS = pa.Table.from_pylist([
    {"shot_index": 0, "start_s": 0.0, "end_s": 4.0, "transition": "cut"},
    {"shot_index": 1, "start_s": 4.0, "end_s": 9.5, "transition": "dissolve"},
])


def test_shot_rows_join_the_shot_bounds_and_keep_vectors_in_order():
    embedded = _embedded([
        {"shot_index": 1, "frame_index": 200, "time_s": 8.0, "path": "keyframes/b.jpg"},
        {"shot_index": 0, "frame_index": 10, "time_s": 0.4, "path": "keyframes/a.jpg"},
    ])
    rows = shot_rows("ep-1", embedded, MODEL, SHOTS, '{"series":"s"}')
    assert [r["id"] for r in rows] == ["ep-1/1/200", "ep-1/0/10"]
    assert (rows[0]["start_s"], rows[0]["end_s"], rows[0]["transition"]) == (4.0, 9.5, "dissolve")
    assert rows[1]["keyframe_path"] == "keyframes/a.jpg" and rows[1]["metadata"] == '{"series":"s"}'
    np.testing.assert_array_equal(rows[0]["vector"], [1, 0, 0, 0])
    np.testing.assert_array_equal(rows[1]["vector"], [0, 1, 0, 0])


def test_a_keyframe_of_an_unknown_shot_is_refused_with_the_title_named():
    embedded = _embedded([{"shot_index": 7, "frame_index": 1, "time_s": 0.0, "path": "k.jpg"}])
    with pytest.raises(VectorStoreError, match=r"title ep-2: keyframe of shot 7 has no shot"):
        shot_rows("ep-2", embedded, MODEL, SHOTS, None)


def test_segment_and_onscreen_ids_are_stable():
    lines = _embedded([{"track": 0, "segment_index": 3, "text": "hello"},
                       {"track": 1, "segment_index": 0, "text": "안녕"}])
    assert [r["id"] for r in segment_rows("ep-1", lines, MODEL, None)] == ["ep-1/0/3", "ep-1/1/0"]
    events = _embedded([{"event_index": 5, "text": "부산역"}])
    (row,) = onscreen_rows("ep-1", events, MODEL, None)
    assert row["id"] == "ep-1/5" and row["text"] == "부산역" and len(row["vector"]) == 4
