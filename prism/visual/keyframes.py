"""Keyframes: which frames represent each shot, and their full-resolution images.

Selection works on the decode pass's scalars only: within a shot (minus the
frames of the transitions into and out of it, and a small margin at cuts) the
frame with the best sharpness, least motion and no black is chosen; a long
shot gets one keyframe per started ``every_s`` seconds, each the best of its
own stretch. The images come from the candidates the decode pass captured
(:mod:`prism.visual.captures`): each stretch takes the best captured frame in
it, unless none was captured there or the best captured one scores clearly
below the stretch's best frame; only those are extracted by seeking
(:func:`extract_frames`, ordered by time, so frames in the same GOP are decoded
on the way).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from io import BytesIO
from typing import IO

import av
import numpy as np
import pyarrow as pa
from PIL import Image, ImageDraw

KEYFRAMES_SCHEMA = pa.schema(
    [
        pa.field("shot_index", pa.int32(), nullable=False),
        pa.field("frame_index", pa.int32(), nullable=False),
        pa.field("time_s", pa.float64(), nullable=False),
        pa.field("path", pa.string(), nullable=False),  # relative to the title directory
        pa.field("width", pa.int32(), nullable=False),
        pa.field("height", pa.int32(), nullable=False),
        pa.field("rank", pa.int16(), nullable=False),  # 0 = the shot's representative keyframe
        pa.field("score", pa.float32(), nullable=False),
    ]
)
CUT_MARGIN = 2  # frames next to a cut are skipped (encoders smear them)
# A captured candidate stands for its stretch when it scores at least this share of the stretch's
# best frame (else that frame is extracted by seeking).
CAPTURED_MIN_SHARE = 0.75


class KeyframeError(RuntimeError):
    pass


@dataclass(frozen=True)
class KeyframeChoice:
    shot_index: int
    frame_index: int
    time_s: float
    rank: int
    score: float
    captured: bool = False  # the decode pass captured this frame's image


def frame_scores(sharpness: np.ndarray, motion: np.ndarray, black_ratio: np.ndarray) -> np.ndarray:
    """Higher is better: sharp, still, not black."""
    score = sharpness / (1.0 + 40.0 * motion)
    return np.where(black_ratio >= 0.9, score * 0.01, score).astype(np.float32)


def select_keyframes(shots: list[dict], times: np.ndarray, scores: np.ndarray,
                     every_s: float = 10.0, captured: np.ndarray | None = None,
                     min_share: float = CAPTURED_MIN_SHARE) -> list[KeyframeChoice]:
    """Keyframes per shot (see module doc). ``shots``: rows of ``shots.parquet``; ``captured``: a
    per-frame mask of the frames whose images the decode pass captured."""
    choices: list[KeyframeChoice] = []
    for k, shot in enumerate(shots):
        start, end = shot["start_frame"], shot["end_frame"]
        usable = np.zeros(end - start, bool)
        lo, hi = start, end
        if shot.get("transition_end_frame") is not None:
            lo = max(lo, shot["transition_end_frame"])
        elif shot["transition"] == "cut":
            lo = min(end - 1, start + CUT_MARGIN)
        nxt = shots[k + 1] if k + 1 < len(shots) else None
        if nxt is not None:
            if nxt.get("transition_start_frame") is not None:
                hi = min(hi, nxt["transition_start_frame"])
            elif nxt["transition"] == "cut":
                hi = max(lo + 1, end - CUT_MARGIN)
        if hi > lo:
            usable[lo - start:hi - start] = True
        else:
            usable[:] = True  # a shot made only of transition: take the best frame anyway
        idx = start + np.flatnonzero(usable)
        duration = max(shot["end_s"] - shot["start_s"], 0.0)
        parts = max(1, min(len(idx), math.ceil(duration / every_s) if every_s > 0 else 1))
        picks = []
        have = set()
        for part in np.array_split(idx, parts):
            if len(part):
                best = int(part[int(np.argmax(scores[part]))])
                if captured is not None and not captured[best]:
                    there = part[captured[part]]
                    if len(there):
                        alt = int(there[int(np.argmax(scores[there]))])
                        if scores[alt] >= min_share * scores[best]:
                            best = alt
                picks.append(best)
                if captured is not None and captured[best]:
                    have.add(best)
        # Rank 0 is the best keyframe of the shot, the rest follow in time order.
        order = sorted(picks, key=lambda f: -scores[f])
        rank_of = {f: (0 if f == order[0] else 1) for f in picks}
        rank = 1
        for f in picks:
            if rank_of[f]:
                rank_of[f] = rank
                rank += 1
        for f in picks:
            choices.append(KeyframeChoice(shot["shot_index"], f, float(times[f]), rank_of[f], float(scores[f]),
                                          f in have))
    return choices


@dataclass(frozen=True)
class KeyframeAudit:
    """What the keyframes asset's blocking checks look at, on the published keyframes."""

    shots_without_keyframe: list[int]
    outside_their_shot: list[str]  # image paths
    unreadable: list[str]  # image paths, with why

    @property
    def passed(self) -> bool:
        return not (self.shots_without_keyframe or self.outside_their_shot or self.unreadable)


def audit_keyframes(rows: list[dict], shots: list[dict], read_image: Callable[[str], bytes]) -> KeyframeAudit:
    """Every shot has a keyframe, every keyframe lies inside its shot (frames and times), and every
    image decodes at the size its row states. ``rows``: keyframes.parquet rows; ``shots``:
    shots.parquet rows; ``read_image``: the bytes of an image by its artifact path."""
    covered = {r["shot_index"] for r in rows}
    missing = [s["shot_index"] for s in shots if s["shot_index"] not in covered]
    bounds = {s["shot_index"]: s for s in shots}

    def inside(r: dict) -> bool:
        shot = bounds.get(r["shot_index"])
        return shot is not None and (shot["start_frame"] <= r["frame_index"] < shot["end_frame"]
                                     and shot["start_s"] <= r["time_s"] < shot["end_s"])

    outside = [r["path"] for r in rows if not inside(r)]
    broken = []
    for r in rows:
        try:
            with Image.open(BytesIO(read_image(r["path"]))) as im:
                im.load()
                if im.size != (r["width"], r["height"]):
                    broken.append(f"{r['path']} (size {im.size})")
        except Exception as exc:  # missing object or undecodable image
            broken.append(f"{r['path']} ({type(exc).__name__})")
    return KeyframeAudit(missing, outside, broken)


def _display(image: Image.Image, rotation: int) -> Image.Image:
    return image.rotate(-rotation, expand=True) if rotation % 360 else image


def extract_frames(source: str | IO[bytes], targets: list[tuple[int, float]], *, rotation: int = 0,
                   frame_tolerance_s: float = 1e-3, max_forward_s: float = 3.0,
                   ) -> Iterator[tuple[int, Image.Image]]:
    """Yield ``(frame_index, full-resolution image)`` for each ``(frame_index, time_s)`` target.

    Targets are visited in time order; a target less than ``max_forward_s`` ahead of the
    decoder is reached by decoding forward, anything else by a backward seek to the
    keyframe before it.
    """
    pending = sorted(targets, key=lambda t: t[1])
    if not pending:
        return
    with av.open(source, mode="r", metadata_errors="ignore") as container:
        stream = next(s for s in container.streams.video
                      if not (s.disposition & av.stream.Disposition.attached_pic))
        stream.thread_type = "AUTO"
        tb = stream.time_base
        frames: Iterator | None = None
        position = -math.inf  # time of the last decoded frame
        for frame_index, target in pending:
            found = None
            # Decode forward when the target is just ahead; else seek to the keyframe before it,
            # and if the demuxer lands past the target (imprecise index), seek further back once.
            for back_s in (None, 0.0, 10.0):
                if back_s is None:
                    if frames is None or target < position or target - position > max_forward_s:
                        continue
                else:
                    container.seek(max(0, int((target - back_s) / tb)), stream=stream, backward=True)
                    frames = container.decode(stream)
                    position = -math.inf
                first = True
                for frame in frames:
                    t = frame.time if frame.time is not None else position
                    position = t
                    if t >= target - frame_tolerance_s:
                        if not (first and t > target + frame_tolerance_s):
                            found = frame if abs(t - target) <= frame_tolerance_s else None
                        break
                    first = False
                if found is not None:
                    break
            if found is None:
                raise KeyframeError(f"frame {frame_index} at {target:.3f}s could not be decoded by seeking")
            yield frame_index, _display(found.to_image(), rotation)


def contact_sheet(tiles: list[tuple[str, Image.Image]], *, tile_width: int = 240,
                  columns: int = 6) -> Image.Image:
    """A grid of labelled tiles (label, image)."""
    if not tiles:
        raise ValueError("no tiles for a contact sheet")
    first = tiles[0][1]
    tile_h = max(2, int(round(tile_width * first.height / first.width)))
    label_h = 18
    cols = min(columns, len(tiles))
    rows = math.ceil(len(tiles) / cols)
    sheet = Image.new("RGB", (cols * tile_width, rows * (tile_h + label_h)), (16, 16, 16))
    draw = ImageDraw.Draw(sheet)
    for i, (label, image) in enumerate(tiles):
        x, y = (i % cols) * tile_width, (i // cols) * (tile_h + label_h)
        sheet.paste(image.resize((tile_width, tile_h), Image.Resampling.BILINEAR), (x, y))
        draw.text((x + 4, y + tile_h + 3), label, fill=(230, 230, 230))
    return sheet


def timecode(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"
