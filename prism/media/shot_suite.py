"""The shot-accuracy titles: real photographs filmed by a virtual camera, with exact ground truth.

The pictures are the photographs bundled in scikit-image's wheel (no download), not
Prism's own synthetic textures; the camera work and the edit are synthetic, so every
boundary is known to the frame. The set holds what real edits are made of and what
content detectors get wrong: cuts between two framings of one scene (punch-ins and
pull-outs of 10-25 %, sideways reframes), cuts into and out of a 2 s black stretch,
dissolves of 0.4-2 s, fades through black, a dip to black, a flash, continuous pans
and zooms, handheld shake, whip pans, and plain cuts next to fast-moving texture.

This module knows nothing of the detectors; tests and ``benchmarks/shot_accuracy.py``
score them against the truth ``write_title`` returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prism.media.synth import (
    Black,
    Dissolve,
    FadeIn,
    FadeOut,
    Photo,
    Scene,
    TimelineItem,
    Truth,
    write_title,
)

FPS = 25.0

# 720p: every kind of boundary and camera motion, ~55 s.
EDIT_720P: list[TimelineItem] = [
    Photo("astronaut", 1.6),
    Photo("astronaut", 1.4, zoom=1.15),  # punch-in 15 %
    Photo("astronaut", 1.4),  # pull-out 13 %
    Photo("coffee", 1.6, zoom=1.35, center=(0.42, 0.5)),
    Photo("coffee", 1.4, zoom=1.35, center=(0.58, 0.5)),  # reframe: 22 % of the width sideways
    Photo("coffee", 1.4, zoom=1.1, center=(0.55, 0.5)),  # pull-out 19 %
    Photo("rocket", 1.6),
    Photo("rocket", 1.4, zoom=1.25, center=(0.5, 0.55)),  # punch-in 25 %
    Photo("rocket", 1.4, zoom=1.375, center=(0.5, 0.55)),  # punch-in 10 %
    Black(2.0),  # a hard cut into black and one out of it
    Photo("chelsea", 1.6),
    Photo("chelsea", 1.4, zoom=1.2, center=(0.45, 0.5)),  # punch-in 20 %
    Photo("chelsea", 1.4, zoom=1.2, center=(0.6, 0.5)),  # reframe: 18 % sideways
    Photo("gravel", 1.6, zoom=1.8, center=(0.3, 0.5), pan=(0.6, 0.0)),  # fast-moving pattern
    Photo("hubble_deep_field", 2.0, zoom=1.3, center=(0.35, 0.5), pan=(0.2, 0.0)),  # continuous pan
    Photo("grass", 1.6, zoom=1.6, center=(0.65, 0.5), pan=(-0.45, 0.0)),  # fast-moving texture
    Photo("astronaut", 2.0, zoom=1.05, zoom_rate=0.15),  # continuous zoom in
    Dissolve(1.0),
    Photo("immunohistochemistry", 2.0, shake=0.012),  # handheld
    Photo("immunohistochemistry", 1.4, zoom=1.2, shake=0.012),  # punch-in 20 % while handheld
    Dissolve(0.4),
    Photo("camera", 2.0, flashes_s=(0.8,)),  # a photographer's flash
    FadeOut(0.6), Black(2.0), FadeIn(0.6),  # fade to a black stretch and up from it
    Photo("moon", 1.6),
    Photo("moon", 1.4, zoom=1.2),  # punch-in 20 % on a dim, soft picture
    Photo("brick", 1.6, zoom=1.6, center=(0.3, 0.5), pan=(0.5, 0.0)),  # fast-moving texture
    Photo("coffee", 1.6),
    Dissolve(2.0),
    Photo("rocket", 2.4, zoom=1.5, center=(0.3, 0.5), whips_s=(0.9,), whip=0.45),  # a whip pan
    FadeOut(0.8), FadeIn(0.8),  # a dip to black (no black hold): one transition
    Photo("coins", 1.6, zoom=1.3, center=(0.4, 0.5)),
    Photo("coins", 1.4, zoom=1.3, center=(0.6, 0.5)),  # reframe: 26 % sideways
    Photo("retina", 2.0, zoom=1.2, shake=0.025),  # heavy shake
    Photo("retina", 1.4, zoom=1.45, center=(0.5, 0.5)),  # punch-in 21 % out of the shake
    Photo("page", 1.6),
]

# 1080p: a shorter edit of the same kinds.
EDIT_1080P: list[TimelineItem] = [
    Photo("chelsea", 1.4),
    Photo("chelsea", 1.2, zoom=1.12),  # punch-in 12 %
    Black(2.0),
    Photo("coffee", 1.4, zoom=1.3, center=(0.6, 0.5)),
    Photo("coffee", 1.2, zoom=1.3, center=(0.45, 0.5)),  # reframe 20 % the other way
    Dissolve(0.8),
    Photo("astronaut", 1.6, zoom=1.4, center=(0.5, 0.4), pan=(0.0, 0.15)),  # tilt
    Photo("astronaut", 1.2, zoom=1.2, center=(0.5, 0.45)),  # pull-out 17 %
]


@dataclass(frozen=True)
class SuiteTitle:
    name: str
    timeline: list[TimelineItem]
    width: int
    height: int


SUITE = (SuiteTitle("photo_edit_720p", EDIT_720P, 1280, 720),
         SuiteTitle("photo_edit_1080p", EDIT_1080P, 1920, 1080))


def write_suite_title(title: SuiteTitle, directory: Path, preset: str = "veryfast") -> tuple[Path, Truth]:
    """Encode one suite title (H.264, CRF 23, 2 s GOP) into ``directory``; returns its path and
    truth. (``preset="ultrafast"`` keeps the tests quick; the picture is the same to a detector
    working on 48x27 cells.)"""
    path = Path(directory) / f"{title.name}.mp4"
    truth = write_title(path, title.timeline, [], width=title.width, height=title.height, fps=FPS,
                        preset=preset)
    return path, truth


@dataclass
class SuiteScore:
    """A detector's boundaries against a title's truth."""

    cuts: int  # true hard cuts
    cut_hits: int  # matched within ±1 frame (one-to-one)
    cut_predicted: int  # boundaries taken as cuts
    same_scene: int
    same_scene_hits: int
    gradual: int
    gradual_found: int  # exactly one gradual boundary within ±0.5 s of the transition
    flash_false: int  # boundaries within 3 frames of a flash
    motion_false: int  # boundaries inside a moving-camera shot

    @property
    def cut_precision(self) -> float:
        return self.cut_hits / self.cut_predicted if self.cut_predicted else 1.0

    @property
    def cut_recall(self) -> float:
        return self.cut_hits / self.cuts if self.cuts else 1.0

    @property
    def cut_f1(self) -> float:
        p, r = self.cut_precision, self.cut_recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def same_scene_recall(self) -> float:
        return self.same_scene_hits / self.same_scene if self.same_scene else 1.0

    def __add__(self, other: SuiteScore) -> SuiteScore:
        return SuiteScore(*(a + b for a, b in zip(vars(self).values(), vars(other).values(), strict=True)))

    def row(self, name: str) -> str:
        return (f"| {name} | {self.cut_precision:.2f} | {self.cut_recall:.2f} | {self.cut_f1:.3f} | "
                f"{self.same_scene_hits}/{self.same_scene} | {self.gradual_found}/{self.gradual} | "
                f"{self.flash_false} | {self.motion_false} |")

    HEADER = ("| detector | cut P | cut R | cut F1 | same-scene cuts | gradual (one, ±0.5 s) | "
              "false at flashes | false in camera motion |\n|---|---|---|---|---|---|---|---|")


def _match(predicted: list[int], truth: list[int], tolerance: int) -> list[bool]:
    """Greedy one-to-one matching; which truth items found a prediction within ``tolerance``."""
    used: set[int] = set()
    hit = []
    for t in truth:
        best = min((p for p in predicted if p not in used and abs(p - t) <= tolerance),
                   key=lambda p: abs(p - t), default=None)
        if best is not None:
            used.add(best)
        hit.append(best is not None)
    return hit


def score(boundaries: list[tuple[int, str | None, int | None, int | None]], truth: Truth) -> SuiteScore:
    """``boundaries``: (frame, kind, span_start, span_end); kind None when the detector does
    not say (PySceneDetect): such a boundary near a gradual transition is taken as that
    transition, elsewhere as a cut."""
    fps = truth.fps
    half = int(round(0.5 * fps))
    windows = [(g["start_frame"] - half, g["end_frame"] + half) for g in truth.gradual]

    def near_gradual(frame: int) -> bool:
        return any(a <= frame <= b for a, b in windows)

    cuts = [f for f, kind, _, _ in boundaries if kind == "cut" or (kind is None and not near_gradual(f))]
    hit = _match(cuts, truth.cuts, 1)
    same = [h for h, k in zip(hit, truth.cut_kinds, strict=True) if k == "same_scene"]
    found = 0
    for g, (a, b) in zip(truth.gradual, windows, strict=True):
        inside = [x for x in boundaries if a <= x[0] <= b]
        if len(inside) != 1 or inside[0][1] not in ("gradual", None):
            continue
        _, kind, s0, s1 = inside[0]
        if kind == "gradual" and s0 is not None and (abs(s0 - g["start_frame"]) > half
                                                     or abs(s1 - g["end_frame"]) > half):
            continue
        found += 1
    flash_false = sum(any(abs(f - fl) <= 3 for fl in truth.flashes) for f, *_ in boundaries)
    motion_false = sum(any(m["start_frame"] + 1 < f < m["end_frame"] - 1 for m in truth.motion)
                       for f, *_ in boundaries)
    return SuiteScore(len(truth.cuts), sum(hit), len(cuts), len(same), sum(same), len(truth.gradual),
                      found, flash_false, motion_false)


__all__ = ["SuiteScore", "score", "EDIT_1080P", "EDIT_720P", "FPS", "SUITE", "SuiteTitle", "write_suite_title",
           "Black", "Dissolve", "FadeIn", "FadeOut", "Photo", "Scene"]
