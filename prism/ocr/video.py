"""On-screen text of a title: sample frames within shots, detect and read, track, refine, classify.

Frames are read by sampling (every ``interval_s`` within each shot, plus the keyframes), never by
a second full decode: the walker seeks to a sample that lies far ahead and decodes forward to
one that is near (as :func:`prism.visual.keyframes.extract_frames` does). The frames decoded on
the way between two samples are kept (as decoded pictures, up to a memory cap), because that is
exactly where a line that appeared or vanished between the samples changed: its start or end is
refined to the frame by bisecting those frames with the detector on the line's region (a
line replaced by another in the same place, like a subtitle change, is told apart by reading).
A gap that was not decoded on the way (a seek, or over the cap) is decoded on its own when a
boundary falls in it.

Frame indices and times come from the decode pass (``frame_signals.parquet``'s ``time_s``), so
variable frame rate titles are timed by their presentation timestamps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
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


class OcrVideoError(RuntimeError):
    """The video cannot be read at the frames the OCR asked for."""


@dataclass(frozen=True)
class OcrOptions:
    interval_s: float = 1.0
    max_forward_s: float = 3.0  # a sample further ahead than this is reached by seeking
    buffer_bytes: int = 256 * 1024 * 1024  # decoded pictures kept between two samples
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
    gap_decodes: int  # gaps decoded on their own for a refinement


def sample_frames(shots: Sequence[dict], times: np.ndarray, interval_s: float,
                  extra: Sequence[int] = ()) -> list[tuple[int, int]]:
    """(frame index, shot index) of every sample: each shot's first frame, then every
    ``interval_s`` seconds within it, plus the ``extra`` frames (keyframes)."""
    picks: dict[int, int] = {}
    n = len(times)
    shot_of = np.zeros(n, np.int32)
    for shot in shots:
        start, end = int(shot["start_frame"]), min(int(shot["end_frame"]), n)
        if end <= start:
            continue
        shot_of[start:end] = shot["shot_index"]
        t = float(times[start])
        while True:
            f = int(np.searchsorted(times, t - 1e-6))
            if f >= end:
                break
            picks[f] = int(shot["shot_index"])
            t += interval_s
    for f in extra:
        if 0 <= f < n:
            picks[int(f)] = int(shot_of[f])
    return sorted(picks.items())


def _rotate(rgb: np.ndarray, rotation: int) -> np.ndarray:
    return np.ascontiguousarray(np.rot90(rgb, k=-(rotation // 90) % 4)) if rotation % 360 else rgb


class FrameWalker:
    """Decodes the sampled frames in order (forward when near, seeking when far) and keeps the
    pictures decoded between consecutive samples."""

    def __init__(self, open_source: Callable[[], str | IO[bytes]], times: np.ndarray, *, rotation: int = 0,
                 max_forward_s: float = 3.0, buffer_bytes: int = 256 * 1024 * 1024):
        self.open_source = open_source
        self.times = times
        self.rotation = rotation
        self.max_forward_s = max_forward_s
        self.buffer_bytes = buffer_bytes
        self.gap_decodes = 0

    def index_of(self, t: float) -> int:
        i = int(np.searchsorted(self.times, t - 1e-4))
        if i < len(self.times) and abs(self.times[i] - t) <= 1e-3:
            return i
        if i > 0 and abs(self.times[i - 1] - t) <= 1e-3:
            return i - 1
        return -1

    def rgb(self, frame: av.VideoFrame) -> np.ndarray:
        return _rotate(frame.to_ndarray(format="rgb24"), self.rotation)

    def walk(self, targets: Sequence[int]
             ) -> Iterator[tuple[int, av.VideoFrame, dict[int, av.VideoFrame] | None]]:
        """Yield ``(frame index, frame, gap)`` per target, where ``gap`` holds every frame
        strictly between the previous target and this one (None when they were not all decoded)."""
        if not targets:
            return
        with av.open(self.open_source(), mode="r", metadata_errors="ignore") as container:
            stream = next(s for s in container.streams.video
                          if not (s.disposition & av.stream.Disposition.attached_pic))
            stream.thread_type = "AUTO"
            tb = stream.time_base
            frames: Iterator | None = None
            position = -1
            previous = -1
            gap: dict[int, av.VideoFrame] = {}
            gap_ok = True
            cap = None
            for target in targets:
                found = None
                for back_s in (None, 0.0, 10.0):
                    if back_s is None:
                        if (frames is None or target <= position
                                or self.times[target] - self.times[max(position, 0)] > self.max_forward_s):
                            continue
                    else:
                        container.seek(max(0, int((float(self.times[target]) - back_s) / tb)), stream=stream,
                                       backward=True)
                        frames = container.decode(stream)
                        position = -1
                        gap_ok = False
                    first = True
                    for frame in frames:
                        if frame.time is None:
                            continue
                        idx = self.index_of(frame.time)
                        if idx < 0:
                            continue
                        position = idx
                        if cap is None:
                            cap = max(1, self.buffer_bytes // max(frame.width * frame.height * 3 // 2, 1))
                        if idx < target:
                            if idx > previous and gap_ok:
                                gap[idx] = frame
                                if len(gap) > cap:
                                    gap.clear()
                                    gap_ok = False
                            first = False
                            continue
                        if idx == target or not first:  # a frame past the target: try seeking
                            found = frame if idx == target else None
                        break
                    if found is not None:
                        break
                if found is None:
                    raise OcrVideoError(f"frame {target} at {self.times[target]:.3f}s could not be decoded "
                                        "by seeking")
                complete = gap_ok and previous >= 0 and all(i in gap for i in range(previous + 1, target))
                yield target, found, (gap if complete else None)
                previous = target
                gap = {}
                gap_ok = True

    def decode_range(self, lo: int, hi: int) -> dict[int, av.VideoFrame]:
        """Frames lo..hi-1 decoded on their own (a gap the walk did not keep)."""
        self.gap_decodes += 1
        got: dict[int, av.VideoFrame] = {}
        if hi <= lo:
            return got
        with av.open(self.open_source(), mode="r", metadata_errors="ignore") as container:
            stream = next(s for s in container.streams.video
                          if not (s.disposition & av.stream.Disposition.attached_pic))
            stream.thread_type = "AUTO"
            for back_s in (0.0, 10.0):  # once more from further back if the seek landed late
                container.seek(max(0, int((float(self.times[lo]) - back_s) / stream.time_base)),
                               stream=stream, backward=True)
                got = {}
                for frame in container.decode(stream):
                    idx = -1 if frame.time is None else self.index_of(frame.time)
                    if idx >= hi:
                        break
                    if idx >= lo:
                        got[idx] = frame
                if all(i in got for i in range(lo, hi)):
                    break
        missing = [i for i in range(lo, hi) if i not in got]
        if missing:
            raise OcrVideoError(f"frames {missing[0]}..{missing[-1]} could not be decoded by seeking")
        return got


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
                       *, detector: TextDetector, reader: TextReader, keyframes: Sequence[int] = (),
                       rotation: int = 0, options: OcrOptions | None = None,
                       progress: Callable[[int, int], None] | None = None) -> OcrResult:
    """Every on-screen text event of a title (see the module doc)."""
    options = options or OcrOptions()
    times = np.asarray(times, np.float64)
    n_frames = len(times)
    plan = sample_frames(shots, times, options.interval_s, keyframes)
    walker = FrameWalker(open_source, times, rotation=rotation, max_forward_s=options.max_forward_s,
                         buffer_bytes=options.buffer_bytes)
    refiner = Refiner(detector, reader, walker.rgb)
    shot_of = dict(plan)
    samples: list[Sample] = []
    starts: dict[tuple[int, int], int] = {}  # (sample position, line position) -> first frame
    ends: dict[tuple[int, int], int] = {}  # (sample position, line position) -> exclusive end frame
    width = height = 0
    previous: tuple[np.ndarray, list[TextLine]] | None = None
    for pos, (frame_index, frame, gap) in enumerate(walker.walk([f for f, _ in plan])):
        image = walker.rgb(frame)
        height, width = image.shape[:2]
        # A line cut by the frame's top or bottom edge (a credit rolling in or out) is not read.
        boxes = [d.box for d in detector.detect(image)
                 if d.box.h >= options.min_box_h and d.box.y > 1 and d.box.y + d.box.h < image.shape[0] - 1]
        lines = [line for line in read_lines(reader, image, boxes, previous) if line.text]
        before_image = previous[0] if previous is not None else None
        previous = (image, lines)
        sample = Sample(frame_index, shot_of[frame_index],
                        [Observation(line, plain_background(image, line.box)) for line in lines])
        samples.append(sample)
        if progress:
            progress(pos + 1, len(plan))
        if pos == 0:
            continue
        before = samples[pos - 1]
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
        frames = gap if gap is not None else walker.decode_range(lo + 1, hi)
        for i, line in appearing:
            rivals = [p for p in was if p.box.overlap(line.box) >= 0.3 and not same_line(p, line)]
            starts[(pos, i)] = refiner.boundary(frames, lo, hi, line, rivals, appearing=True,
                                                lo_image=before_image, hi_image=image)
        for i, line in vanishing:
            rivals = [q for q in now if q.box.overlap(line.box) >= 0.3 and not same_line(line, q)]
            ends[(pos - 1, i)] = refiner.boundary(frames, lo, hi, line, rivals, appearing=False,
                                                  lo_image=before_image, hi_image=image)

    events = build_events(samples, starts, ends, times, n_frames, width, height, options.events)
    return OcrResult(events, len(samples), width, height, refiner.probes, refiner.detector_probes,
                     walker.gap_decodes)


def build_events(samples: list[Sample], starts: dict, ends: dict, times: np.ndarray, n_frames: int,
                 width: int, height: int, options: EventOptions) -> list[TextEvent]:
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
            start, start_exact = samples[first_pos].frame_index, False
        else:  # (adjacent samples: the midpoint is the sample itself, and exact)
            start = (samples[first_pos - 1].frame_index + samples[first_pos].frame_index + 1) // 2
            start_exact = samples[first_pos].frame_index - samples[first_pos - 1].frame_index <= 1
        if last_pos == len(samples) - 1:
            end, end_exact = n_frames, True
        elif end_key in ends and not rolling:
            end, end_exact = ends[end_key], True
        elif samples[last_pos + 1].shot_index != samples[last_pos].shot_index:
            end, end_exact = samples[last_pos + 1].frame_index, False
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
