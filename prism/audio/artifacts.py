"""Arrow schemas and (de)serialisation of the audio artifacts (contract: docs/schema.md)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from prism.audio.asr import TranscriptSegment, Word
from prism.audio.loudness import BLOCK_S, MeterBlocks

SPEECH_SCHEMA = pa.schema([
    pa.field("track", pa.int32(), nullable=False),
    pa.field("start_s", pa.float64(), nullable=False),
    pa.field("end_s", pa.float64(), nullable=False),
    pa.field("kind", pa.string(), nullable=False),
    pa.field("confidence", pa.float32()),
])

WORD_TYPE = pa.struct([("start_s", pa.float64()), ("end_s", pa.float64()), ("text", pa.string()),
                       ("probability", pa.float32()), ("speaker", pa.string())])

TRANSCRIPT_SCHEMA = pa.schema([
    pa.field("track", pa.int32(), nullable=False),
    pa.field("segment_index", pa.int32(), nullable=False),
    pa.field("start_s", pa.float64(), nullable=False),
    pa.field("end_s", pa.float64(), nullable=False),
    pa.field("text", pa.string(), nullable=False),
    pa.field("language", pa.string()),
    pa.field("words", pa.list_(WORD_TYPE)),
    pa.field("avg_logprob", pa.float32()),
    pa.field("no_speech_prob", pa.float32()),
    pa.field("speaker", pa.string()),  # S1, S2, … from speakers.parquet (null: no speaker found)
])

METER_SCHEMA = pa.schema([
    pa.field("start_s", pa.float64(), nullable=False),
    pa.field("energy", pa.float64(), nullable=False),  # channel-weighted K-weighted mean square
    pa.field("true_peak", pa.float64(), nullable=False),  # linear, oversampled
])


def speech_table(rows: Sequence[dict]) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=SPEECH_SCHEMA)


def transcript_table(tracks: Sequence[tuple[int, str | None, Sequence[TranscriptSegment]]]) -> pa.Table:
    rows = []
    for track, language, segments in tracks:
        for i, s in enumerate(segments):
            rows.append({
                "track": track, "segment_index": i, "start_s": s.start_s, "end_s": s.end_s,
                "text": s.text, "language": language,
                "words": [{"start_s": w.start_s, "end_s": w.end_s, "text": w.text,
                           "probability": w.probability, "speaker": w.speaker} for w in s.words],
                "avg_logprob": s.avg_logprob, "no_speech_prob": s.no_speech_prob, "speaker": s.speaker,
            })
    return pa.Table.from_pylist(rows, schema=TRANSCRIPT_SCHEMA)


def segments_of(table: pa.Table, track: int) -> list[TranscriptSegment]:
    out = []
    for row in table.filter(pa.compute.equal(table["track"], track)).to_pylist():
        words = tuple(Word(w["start_s"], w["end_s"], w["text"], w["probability"], w.get("speaker"))
                      for w in row["words"] or [])
        out.append(TranscriptSegment(row["start_s"], row["end_s"], row["text"], words,
                                     row["avg_logprob"], row["no_speech_prob"], speaker=row.get("speaker")))
    return out


def meter_table(meter: MeterBlocks) -> pa.Table:
    n = meter.energy.size
    return pa.Table.from_arrays(
        [pa.array(np.arange(n) * BLOCK_S), pa.array(meter.energy), pa.array(meter.true_peak)],
        schema=METER_SCHEMA)


def meter_from(table: pa.Table, info: dict) -> MeterBlocks:
    """Rebuild the meter's state from its parquet table and the track's entry in audio.json."""
    return MeterBlocks(
        energy=table["energy"].to_numpy(), true_peak=table["true_peak"].to_numpy(),
        rate=int(info["sample_rate"]), samples=int(info["samples"]),
        true_peak_max=float(info["true_peak_linear"]), sample_peak_max=float(info["sample_peak_linear"]),
    )


def finite_or_none(x: float | None, digits: int = 2) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), digits)


def loudness_track_entries(loudness: dict) -> list[dict]:
    """The per-track entries of loudness.json (none when the document has none)."""
    tracks = loudness.get("tracks", []) if isinstance(loudness, dict) else []
    return [t for t in tracks if isinstance(t, dict)]
