"""On-screen text of a title: sample frames within shots, detect and read, track, refine, classify.

Frames are never decoded a second time in full. The samples come from the one decode pass
(:mod:`prism.visual.captures`: a frame every ``interval_s`` seconds on a grid from 0, and the
first frame after each provisional cut), plus the keyframes' images; :func:`plan_samples` keeps
the grid samples, the cut samples that are real shot starts, and the keyframes. Where a line
appears or vanishes between two samples, its start or end is refined to the frame by bisecting
the frames between them with the detector on the line's region (a line replaced by another in
the same place, like a subtitle change, is told apart by reading); those frames are decoded in a
short window only (:class:`WindowDecoder`: a seek to the keyframe before the earlier sample, then
decoding up to the later one).

Frame indices and times come from the decode pass (``frame_signals.parquet``'s ``time_s``), so
variable frame rate titles are timed by their presentation timestamps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO

import av
import numpy as np
import pyarrow as pa

from prism.ocr.base import Box, TextDetector, TextLine, TextReader, similarity
from prism.ocr.events import (
    ONSCREEN_TEXT_SCHEMA,
    EventOptions,
    Observation,
    Sample,
    TextEvent,
    best_reading,
    classify,
    continues,
    is_rolling,
    keep,
    same_line,
    settle_top_band,
    track_lines,
)
from prism.visual.captures import decode_jpeg, iter_captures


class OcrVideoError(RuntimeError):
    """The video cannot be read at the frames the OCR asked for."""


@dataclass(frozen=True)
class OcrOptions:
    interval_s: float = 1.0  # of the samples the decode pass captured (PRISM_OCR_INTERVAL_S)
    max_forward_s: float = 2.0  # a refinement window this close ahead is decoded forward, not sought
    min_box_h: int = 8  # px: detections smaller than this are not read
    events: EventOptions = field(default_factory=EventOptions)


@dataclass
class OcrResult:
    events: list[TextEvent]
    samples: int
    width: int
    height: int
    probes: int  # frames examined by the boundary refinement
    detector_probes: int  # of which the detector had to decide (the rest matched a sample's pixels)
    windows: int  # refinement windows decoded (each a seek, or a short decode forward)
    decoded_frames: int  # frames the refinement windows decoded (all of the OCR's video decoding)


def _rotate(rgb: np.ndarray, rotation: int) -> np.ndarray:
    return np.ascontiguousarray(np.rot90(rgb, k=-(rotation // 90) % 4)) if rotation % 360 else rgb


def plan_samples(captures: pa.Table, shots: Sequence[dict], n_frames: int,
                 keyframes: Sequence[int] = ()) -> list[tuple[int, int]]:
    """(frame index, shot index) of the samples to read: the decode pass's grid samples, its cut
    samples that are real shot starts (``captures``: text_samples.parquet's ``frame_index`` and
    ``reason``), and the keyframes."""
    shot_of = np.zeros(n_frames, np.int32)
    starts = set()
    for shot in shots:
        start, end = int(shot["start_frame"]), min(int(shot["end_frame"]), n_frames)
        shot_of[start:end] = shot["shot_index"]
        starts.add(start)
    pairs = zip(captures.column("frame_index").to_pylist(), captures.column("reason").to_pylist(), strict=True)
    picks = {int(f) for f, reason in pairs if 0 <= f < n_frames and (reason != "cut" or f in starts)}
    picks |= {int(f) for f in keyframes if 0 <= f < n_frames}
    return [(f, int(shot_of[f])) for f in sorted(picks)]


def captured_samples(plan: Sequence[tuple[int, int]], samples_path: str | Path,
                     keyframe_image: Callable[[int], np.ndarray] | None = None
                     ) -> Iterator[tuple[int, int, np.ndarray]]:
    """(frame index, shot index, RGB image) of each planned sample, in order: from the decode pass's
    ``text_samples.parquet``, else (a keyframe) from ``keyframe_image``. One image in memory."""
    rows = iter_captures(samples_path, {f for f, _ in plan})
    row = next(rows, None)
    for frame_index, shot_index in plan:
        while row is not None and row["frame_index"] < frame_index:
            row = next(rows, None)
        if row is not None and row["frame_index"] == frame_index:
            yield frame_index, shot_index, decode_jpeg(row["jpeg"])
        elif keyframe_image is not None:
            yield frame_index, shot_index, keyframe_image(frame_index)
        else:
            raise OcrVideoError(f"frame {frame_index} was not captured by the decode pass")


class WindowDecoder:
    """Decodes short windows of the title for the boundary refinement: each window by a seek to the
    keyframe before it (or by decoding on when it starts just ahead of the last one), never the
    whole stream. Counts what it decoded."""

    def __init__(self, open_source: Callable[[], str | IO[bytes]], times: np.ndarray, *, rotation: int = 0,
                 key_frames: np.ndarray | None = None, max_forward_s: float = 2.0):
        self.open_source = open_source
        self.times = times
        # Seek points (frame_signals' key_frame): a window whose seek would land at or before the
        # frame the decoder is at is decoded on instead (a seek would decode those frames again).
        self.key_index = np.flatnonzero(key_frames) if key_frames is not None and np.any(key_frames) else None
        self.rotation = rotation
        self.max_forward_s = max_forward_s
        self.windows = 0
        self.decoded = 0
        self._container = None
        self._stream = None
        self._frames: Iterator | None = None
        self._position = -1

    def index_of(self, t: float) -> int:
        i = int(np.searchsorted(self.times, t - 1e-4))
        if i < len(self.times) and abs(self.times[i] - t) <= 1e-3:
            return i
        if i > 0 and abs(self.times[i - 1] - t) <= 1e-3:
            return i - 1
        return -1

    def rgb(self, frame: av.VideoFrame) -> np.ndarray:
        return _rotate(frame.to_ndarray(format="rgb24"), self.rotation)

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = self._frames = None

    def __enter__(self) -> WindowDecoder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def frames(self, lo: int, hi: int) -> dict[int, av.VideoFrame]:
        """Frames lo..hi (both included)."""
        self.windows += 1
        if self._container is None:
            self._container = av.open(self.open_source(), mode="r", metadata_errors="ignore")
            self._stream = next(s for s in self._container.streams.video
                                if not (s.disposition & av.stream.Disposition.attached_pic))
            self._stream.thread_type = "AUTO"
        got: dict[int, av.VideoFrame] = {}
        for back_s in (None, 0.0, 10.0):  # decode on; seek; seek further back if the seek landed late
            if back_s is None:
                if self._frames is None or self._position >= lo:
                    continue
                if self.key_index is not None:
                    seek_point = self.key_index[max(int(np.searchsorted(self.key_index, lo, "right")) - 1, 0)]
                    if self._position < seek_point - 1:
                        continue
                elif self.times[lo] - self.times[max(self._position, 0)] > self.max_forward_s:
                    continue
            else:
                self._container.seek(max(0, int((float(self.times[lo]) - back_s) / self._stream.time_base)),
                                     stream=self._stream, backward=True)
                self._frames = self._container.decode(self._stream)
                self._position = -1
            got = {}
            for frame in self._frames:
                self.decoded += 1
                idx = -1 if frame.time is None else self.index_of(frame.time)
                if idx < 0:
                    continue
                self._position = idx
                if idx >= lo:
                    got[idx] = frame
                if idx >= hi:
                    break
            if all(i in got for i in range(lo, hi + 1)):
                return got
        missing = [i for i in range(lo, hi + 1) if i not in got]
        raise OcrVideoError(f"frames {missing[0]}..{missing[-1]} could not be decoded by seeking")


def read_lines(reader: TextReader, image: np.ndarray, boxes: Sequence[Box],
               previous: tuple[np.ndarray, list[TextLine]] | None) -> list[TextLine]:
    """Read the boxes, reusing the previous sample's reading of a line whose pixels have not
    changed (a static sign or subtitle is read once, not at every sample)."""
    out: list[TextLine | None] = [None] * len(boxes)
    if previous is not None and previous[0].shape == image.shape:
        before, lines = previous
        for i, box in enumerate(boxes):
            for line in lines:
                if line.box.iou(box) >= 0.85:
                    old, new = line.box.crop(before), line.box.crop(image)
                    if np.abs(old.astype(np.int16) - new).mean() < 3.0:
                        out[i] = replace(line, box=box)
                    break
    todo = [i for i, line in enumerate(out) if line is None]
    for i, line in zip(todo, reader.read(image, [boxes[i] for i in todo]), strict=True):
        out[i] = line
    return [line for line in out if line is not None]


def plain_background(image: np.ndarray, box: Box) -> bool:
    """Is the ring around a line flat (black or a plain card)? Luma spread of the ring."""
    h, w = image.shape[:2]
    outer = box.padded(box.h, box.h, w, h)
    region = outer.crop(image).astype(np.float32)
    luma = region @ np.array([0.299, 0.587, 0.114], np.float32)
    mask = np.ones(luma.shape, bool)
    ix, iy = box.x - outer.x, box.y - outer.y
    mask[max(iy, 0):iy + box.h, max(ix, 0):ix + box.w] = False
    ring = luma[mask]
    return bool(ring.size) and float(np.std(ring)) < 8.0


class Refiner:
    """Finds the frame where a line appears or vanishes between two samples by bisection.

    A probe first compares the line's region with the same region on the two samples either
    side: a picture that matches one of them and clearly not the other (static text on a still
    background) is decided by that; only the rest (a moving background) runs the detector on the
    region, and reads the line when another line occupies the same place on the other sample."""

    same_mad = 2.0  # mean absolute difference (0-255) under which two crops are the same picture
    other_mad = 6.0  # ... and over which they are not

    def __init__(self, detector: TextDetector, reader: TextReader, rgb: Callable[[av.VideoFrame], np.ndarray]):
        self.detector = detector
        self.reader = reader
        self.rgb = rgb
        self.probes = 0
        self.detector_probes = 0

    @staticmethod
    def region(line: TextLine, width: int, height: int) -> Box:
        return line.box.padded(max(line.box.h, 8), max(line.box.h // 2, 4), width, height)

    def present(self, image: np.ndarray, line: TextLine, rivals: Sequence[TextLine],
                shown: np.ndarray | None = None, hidden: np.ndarray | None = None) -> bool:
        """Is ``line`` on ``image``? ``shown``/``hidden``: the region's pixels on the sample with
        and without the line."""
        self.probes += 1
        h, w = image.shape[:2]
        region = self.region(line, w, h)
        crop = np.ascontiguousarray(region.crop(image))
        if shown is not None and hidden is not None and shown.shape == crop.shape == hidden.shape:
            to_shown = float(np.abs(crop.astype(np.int16) - shown).mean())
            to_hidden = float(np.abs(crop.astype(np.int16) - hidden).mean())
            if to_shown < self.same_mad and to_hidden > self.other_mad:
                return True
            if to_hidden < self.same_mad and to_shown > self.other_mad:
                return False
        self.detector_probes += 1
        hits = [d.box.shifted(region.x, region.y) for d in self.detector.detect(crop)]
        hits = [b for b in hits if b.overlap(line.box) >= 0.5 and b.h >= 0.5 * line.box.h]
        if not hits:
            return False
        if not rivals:
            return True
        best = max(hits, key=lambda b: b.iou(line.box))
        text = self.reader.read(image, [best])[0].text
        own = similarity(text, line.text)
        return own >= 0.5 and own > max(similarity(text, r.text) for r in rivals)

    def boundary(self, frames: dict[int, av.VideoFrame], lo: int, hi: int, line: TextLine,
                 rivals: Sequence[TextLine], appearing: bool, lo_image: np.ndarray | None = None,
                 hi_image: np.ndarray | None = None) -> int:
        """The first frame in (lo, hi] where the line is present (appearing) or absent (vanishing);
        ``lo`` and ``hi`` are the samples either side (``lo_image``/``hi_image`` their pictures)."""
        cache: dict[int, bool] = {}
        shown = hidden = None
        if lo_image is not None and hi_image is not None:
            h, w = hi_image.shape[:2]
            region = self.region(line, w, h)
            with_line, without = (hi_image, lo_image) if appearing else (lo_image, hi_image)
            shown, hidden = region.crop(with_line).astype(np.int16), region.crop(without).astype(np.int16)

        def visible(i: int) -> bool:
            if i not in cache:
                cache[i] = self.present(self.rgb(frames[i]), line, rivals, shown, hidden)
            return cache[i]

        while hi - lo > 1:
            mid = (lo + hi) // 2
            if visible(mid) == appearing:
                hi = mid
            else:
                lo = mid
        return hi


def read_onscreen_text(open_source: Callable[[], str | IO[bytes]], times: np.ndarray, shots: Sequence[dict],
                       samples: Iterable[tuple[int, int, np.ndarray]], *, detector: TextDetector,
                       reader: TextReader, rotation: int = 0, key_frames: np.ndarray | None = None,
                       options: OcrOptions | None = None, total: int | None = None,
                       progress: Callable[[int, int | None], None] | None = None) -> OcrResult:
    """Every on-screen text event of a title (see the module doc). ``samples``: (frame index, shot
    index, display-oriented RGB image) in frame order (see :func:`plan_samples`); ``open_source``
    opens the title's media for the refinement windows; ``key_frames``: the pass's per-frame
    keyframe flags (where a seek lands)."""
    options = options or OcrOptions()
    times = np.asarray(times, np.float64)
    n_frames = len(times)
    shot_bounds = {int(s["shot_index"]): (int(s["start_frame"]), int(s["end_frame"])) for s in shots}
    with WindowDecoder(open_source, times, rotation=rotation, key_frames=key_frames,
                       max_forward_s=options.max_forward_s) as windows:
        refiner = Refiner(detector, reader, windows.rgb)
        read: list[Sample] = []
        starts: dict[tuple[int, int], int] = {}  # (sample position, line position) -> first frame
        ends: dict[tuple[int, int], int] = {}  # (sample position, line position) -> exclusive end frame
        width = height = 0
        previous: tuple[np.ndarray, list[TextLine]] | None = None
        for pos, (frame_index, shot_index, image) in enumerate(samples):
            height, width = image.shape[:2]
            # A line cut by the frame's top or bottom edge (a credit rolling in or out) is not read.
            boxes = [d.box for d in detector.detect(image)
                     if d.box.h >= options.min_box_h and d.box.y > 1 and d.box.y + d.box.h < height - 1]
            lines = [line for line in read_lines(reader, image, boxes, previous) if line.text]
            previous = (image, lines)
            sample = Sample(frame_index, shot_index,
                            [Observation(line, plain_background(image, line.box)) for line in lines])
            read.append(sample)
            if progress:
                progress(pos + 1, total)
            if pos == 0:
                continue
            before = read[pos - 1]
            lo, hi = before.frame_index, frame_index
            if hi - lo <= 1:
                continue
            now = [o.line for o in sample.observations]
            was = [o.line for o in before.observations]
            appearing = [(i, line) for i, line in enumerate(now)
                         if keep(line, options.events) and not any(continues(p, line) for p in was)]
            vanishing = [(i, line) for i, line in enumerate(was)
                         if keep(line, options.events) and not any(continues(line, q) for q in now)]
            if not appearing and not vanishing:
                continue
            frames = windows.frames(lo, hi)
            # The references are the decoded samples themselves, so pixel comparisons are made
            # between pictures of one decoder (the captured sample is a JPEG of the pass's decode).
            lo_image, hi_image = windows.rgb(frames[lo]), windows.rgb(frames[hi])
            for i, line in appearing:
                rivals = [p for p in was if p.box.overlap(line.box) >= 0.3 and not same_line(p, line)]
                starts[(pos, i)] = refiner.boundary(frames, lo, hi, line, rivals, appearing=True,
                                                    lo_image=lo_image, hi_image=hi_image)
            for i, line in vanishing:
                rivals = [q for q in now if q.box.overlap(line.box) >= 0.3 and not same_line(line, q)]
                ends[(pos - 1, i)] = refiner.boundary(frames, lo, hi, line, rivals, appearing=False,
                                                      lo_image=lo_image, hi_image=hi_image)
            del frames

    events = build_events(read, starts, ends, times, n_frames, width, height, options.events, shot_bounds)
    return OcrResult(events, len(read), width, height, refiner.probes, refiner.detector_probes,
                     windows.windows, windows.decoded)


def build_events(samples: list[Sample], starts: dict, ends: dict, times: np.ndarray, n_frames: int,
                 width: int, height: int, options: EventOptions,
                 shot_bounds: dict[int, tuple[int, int]] | None = None) -> list[TextEvent]:
    """Tracks to events; ``shot_bounds``: shot index -> (start, end frame), the cut a line that
    cannot be refined is bounded by when the neighbouring sample lies in another shot (else that
    sample's frame)."""
    shot_bounds = shot_bounds or {}
    events = []
    index_in_sample = {id(obs): i for s in samples for i, obs in enumerate(s.observations)}
    for track in track_lines(samples, options):
        line = best_reading(track)
        if not keep(line, options):
            continue
        first_pos, first_obs = track.observations[0]
        last_pos, last_obs = track.observations[-1]
        start_key = (first_pos, index_in_sample[id(first_obs)])
        end_key = (last_pos, index_in_sample[id(last_obs)])
        rolling = is_rolling(track)
        # A moving line cannot be bisected on its box: its bounds are the cut when the
        # neighbouring sample is in another shot, else the midpoint between the samples.
        if first_pos == 0:
            start, start_exact = samples[0].frame_index, True
        elif start_key in starts and not rolling:
            start, start_exact = starts[start_key], True
        elif samples[first_pos - 1].shot_index != samples[first_pos].shot_index:
            shot_start = shot_bounds.get(samples[first_pos].shot_index, (samples[first_pos].frame_index,))[0]
            start, start_exact = max(shot_start, samples[first_pos - 1].frame_index + 1), False
        else:  # (adjacent samples: the midpoint is the sample itself, and exact)
            start = (samples[first_pos - 1].frame_index + samples[first_pos].frame_index + 1) // 2
            start_exact = samples[first_pos].frame_index - samples[first_pos - 1].frame_index <= 1
        if last_pos == len(samples) - 1:
            end, end_exact = n_frames, True
        elif end_key in ends and not rolling:
            end, end_exact = ends[end_key], True
        elif samples[last_pos + 1].shot_index != samples[last_pos].shot_index:
            shot_end = shot_bounds.get(samples[last_pos].shot_index, (0, samples[last_pos + 1].frame_index))[1]
            end, end_exact = min(shot_end, samples[last_pos + 1].frame_index), False
        else:
            end = (samples[last_pos].frame_index + samples[last_pos + 1].frame_index + 1) // 2
            end_exact = samples[last_pos + 1].frame_index - samples[last_pos].frame_index <= 1
        end = max(end, start + 1)
        plain = sum(obs.plain_background for _, obs in track.observations) * 2 >= len(track.observations)
        shot_index = _shot_at(samples, start, samples[first_pos].shot_index)
        start_s = float(times[start])
        end_s = float(times[end]) if end < n_frames else float(times[-1]) + _last_duration(times)
        kind = classify(first_obs.line.box if rolling else line.box, width, height,
                        duration_s=end_s - start_s, rolling=rolling, plain_background=plain)
        events.append(TextEvent(start, end, shot_index, line, len(track.observations),
                                start_exact and end_exact and not rolling, rolling, plain, kind))
    events.sort(key=lambda e: (e.start_frame, e.line.box.y, e.line.box.x))
    return settle_top_band(events, width, height)


def _shot_at(samples: list[Sample], frame: int, default: int) -> int:
    shot = default
    for s in samples:
        if s.frame_index <= frame:
            shot = s.shot_index
        else:
            break
    return shot


def _last_duration(times: np.ndarray) -> float:
    return float(times[-1] - times[-2]) if len(times) >= 2 else 1 / 25


def events_table(events: Sequence[TextEvent], times: np.ndarray, width: int, height: int,
                 duration_s: float | None = None) -> pa.Table:
    """``onscreen_text.parquet`` rows (artifact contract v1, plus frames and provenance)."""
    n = len(times)
    rows = []
    for k, e in enumerate(events):
        b = e.line.box
        end_s = float(times[e.end_frame]) if e.end_frame < n else (
            duration_s if duration_s is not None else float(times[-1]) + _last_duration(times))
        rows.append({
            "event_index": k, "start_s": round(float(times[e.start_frame]), 6), "end_s": round(end_s, 6),
            "shot_index": e.shot_index, "text": e.line.text, "script": e.script,
            "confidence": round(e.line.confidence, 4),
            "x": b.x / width, "y": b.y / height, "w": b.w / width, "h": b.h / height,
            "kind": e.kind, "start_frame": e.start_frame, "end_frame": e.end_frame, "samples": e.samples,
            "refined": e.refined, "reader": e.line.reader,
        })
    return pa.Table.from_pylist(rows, schema=ONSCREEN_TEXT_SCHEMA)
