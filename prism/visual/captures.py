"""Full-resolution frames captured during the one decode pass, for the steps that need pictures.

The decode pass sees every frame once; two later steps need some of them at full resolution:

- ``keyframes`` needs the sharpest, stillest frame of each stretch of each shot. The pass does not
  know the shots yet (they are decided afterwards, with context on both sides), so it keeps
  *candidates*: the best-scoring frame of every stretch of at most ``stretch_s`` seconds, where a
  stretch also ends at a provisional cut (a luma jump far above the frames before it). Frames
  within :data:`CUT_MARGIN` of a provisional cut are never candidates (encoders smear them, and
  the selection skips them at real cuts). ``keyframes`` then chooses among the candidates inside
  each shot's usable range and seeks only where none is there.
- ``onscreen_text`` samples a frame every ``sample_interval_s`` seconds (on a grid from 0) and the
  first frame after every provisional cut.

The pass holds a bounded number of decoded frames (the stretch's best, two frames waiting for
their cut margin, and a short queue to the encoder thread), so memory stays flat whatever the
title's length. Captures are converted to RGB on the decode thread, then JPEG-encoded on a worker
thread (PIL's encoder releases the GIL) and written as Parquet row groups: ``keyframe_candidates.parquet`` and
``text_samples.parquet`` (see docs/schema.md). Images are display-oriented (rotation applied).
"""

from __future__ import annotations

import io
import queue
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from prism.storage import iter_parquet

# Frames next to a cut are never keyframes (the same margin as prism.visual.keyframes).
CUT_MARGIN = 2
ROW_GROUP_ROWS = 16  # captures per Parquet row group (a few MB at 1080p)

CAPTURES_SCHEMA = pa.schema(
    [
        pa.field("frame_index", pa.int32(), nullable=False),
        pa.field("time_s", pa.float64(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),  # best | grid | cut
        pa.field("score", pa.float32(), nullable=False),  # the pass's keyframe score of the frame
        pa.field("width", pa.int32(), nullable=False),  # of the displayed image
        pa.field("height", pa.int32(), nullable=False),
        pa.field("jpeg", pa.binary(), nullable=False),
    ]
)


@dataclass(frozen=True)
class CaptureOptions:
    keyframe_candidates: Path | None = None  # where to write them (None: not captured)
    text_samples: Path | None = None
    stretch_s: float = 2.5  # a keyframe candidate per stretch at most this long
    sample_interval_s: float = 1.0  # on-screen text samples on this grid
    jpeg_quality: int = 90
    # Provisional cut: the frame's mean luma change is at least this (0-1 scale) and this many
    # times the mean of the frames before it.
    cut_motion: float = 0.06
    cut_ratio: float = 2.5
    queue_frames: int = 4  # decoded frames waiting for the encoder thread


def frame_score(sharpness: float, motion: float, black_ratio: float) -> float:
    """Higher is better: sharp, still, not black (the formula of :func:`keyframes.frame_scores`)."""
    score = sharpness / (1.0 + 40.0 * motion)
    return score * 0.01 if black_ratio >= 0.9 else score


class _Writer:
    """Captures of one kind as Parquet row groups (created on the first row)."""

    def __init__(self, path: Path):
        self.path = path
        self.rows: list[dict] = []
        self.writer: pq.ParquetWriter | None = None
        self.count = 0
        self.bytes = 0

    def add(self, row: dict) -> None:
        self.rows.append(row)
        self.count += 1
        self.bytes += len(row["jpeg"])
        if len(self.rows) >= ROW_GROUP_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        if self.writer is None:
            self.writer = pq.ParquetWriter(str(self.path), CAPTURES_SCHEMA, compression="none")
        self.writer.write_table(pa.Table.from_pylist(self.rows, schema=CAPTURES_SCHEMA))
        self.rows.clear()

    def close(self) -> None:
        self.flush()
        if self.writer is None:  # no capture at all: still a valid (empty) table
            pq.write_table(CAPTURES_SCHEMA.empty_table(), str(self.path))
        else:
            self.writer.close()


@dataclass
class _Held:
    index: int
    time_s: float
    score: float
    frame: object  # av.VideoFrame while held; its RGB array once submitted


class FrameCapturer:
    """Called by the decode pass for every frame (in presentation order); see the module doc."""

    def __init__(self, options: CaptureOptions, rotation: int = 0, start_s: float = 0.0):
        self.options = options
        self.rotation = rotation
        self.candidates = _Writer(options.keyframe_candidates) if options.keyframe_candidates else None
        self.samples = _Writer(options.text_samples) if options.text_samples else None
        self.recent = deque(maxlen=5)  # motion of the frames before
        self.pending: deque[_Held] = deque()  # frames waiting out the cut margin
        self.best: _Held | None = None
        self.stretch_end = -np.inf
        self.eligible_from = 0
        self.next_sample = start_s  # a segment of the pass starts on the sample grid
        self.provisional_cuts = 0
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, options.queue_frames))
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._encode_loop, name="prism-capture", daemon=True)
        self._thread.start()

    # -- the decode thread -------------------------------------------------------
    def add(self, index: int, time_s: float, frame, sharpness: float, motion: float,
            black_ratio: float) -> None:
        if self._error is not None:
            raise self._error
        o = self.options
        cut = (bool(self.recent) and motion >= o.cut_motion
               and motion >= o.cut_ratio * (sum(self.recent) / len(self.recent) if self.recent else 0.0))
        self.recent.append(motion)
        if cut:
            self.provisional_cuts += 1
        if self.samples is not None and (cut or time_s >= self.next_sample - 1e-6):
            self._submit(self.samples, _Held(index, time_s, frame_score(sharpness, motion, black_ratio), frame),
                         "cut" if cut and time_s < self.next_sample - 1e-6 else "grid")
            if time_s >= self.next_sample - 1e-6:
                self.next_sample = (np.floor(time_s / o.sample_interval_s + 1e-6) + 1) * o.sample_interval_s
        if self.candidates is None:
            return
        if cut:
            self.pending.clear()  # the margin before the cut
            self._close_stretch()
            self.eligible_from = index + CUT_MARGIN
        held = _Held(index, time_s, frame_score(sharpness, motion, black_ratio), frame)
        if index >= self.eligible_from:
            self.pending.append(held)
        while len(self.pending) > CUT_MARGIN:
            self._offer(self.pending.popleft())

    def prime(self, motion: float) -> None:
        """A frame before a segment of the pass: only its motion is kept (for the cut test)."""
        self.recent.append(motion)

    def finish(self) -> dict:
        """Flush everything (the last frames of a title have no cut after them) and close the files."""
        try:
            if self.candidates is not None and self._error is None:
                while self.pending:
                    self._offer(self.pending.popleft())
                self._close_stretch()
        finally:
            self._queue.put(None)
            self._thread.join()
        if self._error is not None:
            raise self._error
        return {"keyframe_candidates": self.candidates.count if self.candidates else 0,
                "text_samples": self.samples.count if self.samples else 0,
                "capture_bytes": sum(w.bytes for w in (self.candidates, self.samples) if w),
                "provisional_cuts": self.provisional_cuts}

    def abort(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _offer(self, held: _Held) -> None:
        if held.time_s >= self.stretch_end:
            self._close_stretch()
            self.stretch_end = held.time_s + self.options.stretch_s
        if self.best is None or held.score > self.best.score:
            self.best = held

    def _close_stretch(self) -> None:
        if self.best is not None:
            self._submit(self.candidates, self.best, "best")
        self.best = None
        self.stretch_end = -np.inf

    def _submit(self, writer: _Writer, held: _Held, reason: str) -> None:
        # The colour conversion stays on the decode thread: two PyAV conversions running at once
        # on two threads deadlocked (PyAV 18); PIL's JPEG encoder runs free of the GIL.
        rgb = held.frame.to_ndarray(format="rgb24")
        item = (writer, _Held(held.index, held.time_s, held.score, rgb), reason)
        while True:  # a bounded queue, but never wait forever on a dead encoder thread
            if self._error is not None:
                raise self._error
            try:
                self._queue.put(item, timeout=1.0)
                return
            except queue.Full:
                continue

    # -- the encoder thread -------------------------------------------------------
    def _encode_loop(self) -> None:
        writers = [w for w in (self.candidates, self.samples) if w is not None]
        try:
            while (item := self._queue.get()) is not None:
                if self._error is not None:
                    continue
                writer, held, reason = item
                rgb = held.frame
                if self.rotation % 360:
                    rgb = np.ascontiguousarray(np.rot90(rgb, k=-(self.rotation // 90) % 4))
                buf = io.BytesIO()
                Image.fromarray(np.ascontiguousarray(rgb)).save(buf, "JPEG", quality=self.options.jpeg_quality)
                writer.add({"frame_index": held.index, "time_s": held.time_s, "reason": reason,
                            "score": held.score, "width": rgb.shape[1], "height": rgb.shape[0],
                            "jpeg": buf.getvalue()})
            for w in writers:
                w.close()
        except BaseException as exc:  # surfaced on the decode thread
            self._error = exc
            while self._queue.get() is not None:
                pass


# -- reading captures back ----------------------------------------------------------
def capture_index(path_or_file) -> pa.Table:
    """Every capture's frame_index, time_s, reason, score, width and height (no images)."""
    return pq.read_table(path_or_file, columns=[f.name for f in CAPTURES_SCHEMA if f.name != "jpeg"])


def iter_captures(path: str | Path, frames: set[int] | None = None) -> Iterator[dict]:
    """Captures as row dicts in frame order (``frames``: only those), one row group in memory."""
    for batch in iter_parquet(str(path), batch_size=ROW_GROUP_ROWS):
        for row in batch.to_pylist():
            if frames is None or row["frame_index"] in frames:
                yield row


def decode_jpeg(data: bytes) -> np.ndarray:
    """A captured image as an (h, w, 3) uint8 RGB array."""
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))
