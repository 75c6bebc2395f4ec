"""The visual pass in segments side by side, joined into the one pass's outputs.

One decode session is the limit of the visual pass on a GPU worker: NVDEC decodes a 25 Mb/s
1080p H.264 master at ~450 frames/s per session, and the worker's engines run several sessions at
that rate each (docs/performance.md). :func:`run_pass_segmented` cuts the title into time
segments, runs :func:`prism.visual.decode.run_pass` on each in its own process (each opens the
media itself) and joins what they wrote:

- segment boundaries fall on the thumbnail grid and the on-screen text sample grid, so each
  segment takes the thumbnails and text samples one pass takes; segments keep their thumbnails
  raw and the join lays out and encodes the sheets, so sheets and the VTT track are one pass's;
- each segment decodes from before its start (``run_pass``'s ``segment``), so differences, motion
  and provisional cuts are those of one pass: the joined signals equal one pass's;
- keyframe candidates are the best frame of each stretch of at most ``stretch_s``: a stretch that
  spans a boundary is split there (one more candidate, still the best of its part).

Frame indices are renumbered in order; memory is flat (each part is copied a row group at a time).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import multiprocessing
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from prism.visual.captures import CAPTURES_SCHEMA, CaptureOptions
from prism.visual.decode import PassSummary, run_pass
from prism.visual.signals import SIGNALS_SCHEMA
from prism.visual.sprites import RAW_INDEX, SPRITE_DIR, SpriteWriter, join_raw_tiles

# Opens the title's media: a path FFmpeg reads itself or a file object. It is pickled to each
# segment's process, so it must be a module-level callable or a picklable object.
SourceOpener = Callable[[], AbstractContextManager[str | IO[bytes]]]
# A segment shorter than this gains nothing from its own process and decode session.
MIN_SEGMENT_S = 60.0


def boundary_step(thumbnail_interval_s: float, sample_interval_s: float | None) -> float:
    """The spacing segment boundaries keep: on the thumbnail grid and the text sample grid."""
    if not sample_interval_s:
        return thumbnail_interval_s
    for m in range(1, 1001):
        ratio = thumbnail_interval_s * m / sample_interval_s
        if abs(ratio - round(ratio)) < 1e-6:
            return thumbnail_interval_s * m
    return math.inf  # no common grid: one segment


def segment_bounds(duration_s: float | None, segments: int, step_s: float,
                   min_segment_s: float | None = None) -> list[tuple[float, float]]:
    """At most ``segments`` consecutive [start, end) ranges of about equal length covering the
    title, boundaries on multiples of ``step_s``, none shorter than ``min_segment_s``."""
    if not duration_s or not math.isfinite(step_s):
        return [(0.0, math.inf)]
    shortest = MIN_SEGMENT_S if min_segment_s is None else min_segment_s
    segments = max(1, min(segments, int(duration_s // max(shortest, step_s, 1e-9))))
    cuts = sorted({round(duration_s * k / segments / step_s) * step_s for k in range(1, segments)})
    cuts = [c for c in cuts if 0 < c < duration_s]
    edges = [0.0, *cuts, math.inf]
    return list(zip(edges[:-1], edges[1:], strict=True))


def _run_segment(open_source: SourceOpener, bounds: tuple[float, float], work: Path,
                 options: dict) -> tuple[PassSummary, str]:
    capture: CaptureOptions | None = options.pop("capture")
    if capture is not None:
        candidates, samples = capture.keyframe_candidates, capture.text_samples
        capture = dataclasses.replace(capture,
                                      keyframe_candidates=work / candidates.name if candidates else None,
                                      text_samples=work / samples.name if samples else None)
    with open_source() as source:
        return run_pass(source, work / "frame_signals.parquet", work / SPRITE_DIR, capture=capture,
                        segment=bounds, **options)


def run_pass_segmented(open_source: SourceOpener, signals_path: Path, sprite_dir: Path, *,
                       segments: int, duration_s: float | None, capture: CaptureOptions | None = None,
                       thumbnail_interval_s: float = 5.0, min_segment_s: float | None = None,
                       **options) -> tuple[PassSummary, str]:
    """:func:`run_pass` over ``segments`` time segments at once (``duration_s``: the title's, from
    the probe); the outputs are those of one pass (module doc). ``options`` go to ``run_pass``."""
    step = boundary_step(thumbnail_interval_s, capture.sample_interval_s if capture else None)
    bounds = segment_bounds(duration_s, segments, step, min_segment_s)
    options = {**options, "thumbnail_interval_s": thumbnail_interval_s}
    if len(bounds) == 1:
        with open_source() as source:
            return run_pass(source, signals_path, sprite_dir, capture=capture, **options)

    work = Path(tempfile.mkdtemp(prefix=".segments-", dir=signals_path.parent))
    try:
        dirs = [work / str(k) for k in range(len(bounds))]
        for d in dirs:
            d.mkdir()
        # Spawned, not forked: the caller may hold threads (a run's other steps, model pools).
        with ProcessPoolExecutor(len(bounds), mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(_run_segment, open_source, b, d, {**options, "capture": capture})
                       for b, d in zip(bounds, dirs, strict=True)]
            results = [f.result() for f in futures]  # the first segment's error, if any, is raised
        return _join(results, dirs, signals_path, sprite_dir, capture)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _join(results: list[tuple[PassSummary, str]], dirs: list[Path], signals_path: Path, sprite_dir: Path,
          capture: CaptureOptions | None) -> tuple[PassSummary, str]:
    summaries = [s for s, _ in results]
    offsets = [0, *itertools.accumulate(s.frame_count for s in summaries[:-1])]

    _join_tables([d / "frame_signals.parquet" for d in dirs], offsets, signals_path, SIGNALS_SCHEMA, "zstd")
    if capture is not None:
        for target in (capture.keyframe_candidates, capture.text_samples):
            if target is not None:
                _join_tables([d / target.name for d in dirs], offsets, target, CAPTURES_SCHEMA, "none")

    index = json.loads((dirs[0] / SPRITE_DIR / RAW_INDEX).read_text())
    sprites = SpriteWriter(sprite_dir, index["tile_w"], index["tile_h"])
    join_raw_tiles([d / SPRITE_DIR for d in dirs], sprites)
    vtt = sprites.finish(summaries[-1].duration_s)

    first, last = summaries[0], summaries[-1]
    count = sum(s.frame_count for s in summaries)
    captured = {}
    for key in ("keyframe_candidates", "text_samples", "capture_bytes", "provisional_cuts"):
        if any(key in s.captures for s in summaries):
            captured[key] = sum(s.captures.get(key, 0) for s in summaries)
    decoders = list(dict.fromkeys(s.decoder for s in summaries))
    summary = PassSummary(
        frame_count=count, duration_s=last.duration_s, first_time_s=first.first_time_s, width=last.width,
        height=last.height, rotation=first.rotation,
        mean_fps=round(count / max(last.duration_s - first.first_time_s, 1e-9), 4), pix_fmt=first.pix_fmt,
        thumbnails=len(sprites.tiles), sprite_sheets=list(sprites.sheets), captures=captured,
        decoder="+".join(decoders),
        decoder_note=next((s.decoder_note for s in summaries if s.decoder_note), ""),
        segments=len(summaries),
    )
    return summary, vtt


def _join_tables(parts: list[Path], offsets: list[int], target: Path, schema: pa.Schema,
                 compression: str) -> None:
    """The parts one after another, ``frame_index`` shifted by each part's offset."""
    column = schema.get_field_index("frame_index")
    with pq.ParquetWriter(str(target), schema, compression=compression) as writer:
        for part, offset in zip(parts, offsets, strict=True):
            file = pq.ParquetFile(str(part))
            for group in range(file.num_row_groups):
                table = file.read_row_group(group)
                shifted = pc.add(table.column(column), pa.scalar(offset, pa.int32())).cast(pa.int32())
                writer.write_table(table.set_column(column, schema.field(column), shifted))
