"""Scoring shot boundaries against a synthetic title's ground truth (shared by the visual tests)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Score:
    cut_precision: float
    cut_recall: float
    cut_f1: float
    gradual_found: int  # gradual transitions with exactly one boundary near them
    gradual_total: int
    flash_false: int  # boundaries at a flash
    pan_false: int  # boundaries inside a fast pan

    def row(self, name: str) -> str:
        return (f"{name:<16} cuts P={self.cut_precision:.2f} R={self.cut_recall:.2f} "
                f"F1={self.cut_f1:.2f} | gradual {self.gradual_found}/{self.gradual_total} | "
                f"false at flashes {self.flash_false} | false in pans {self.pan_false}")


def match(predicted: list[int], truth: list[int], tolerance: int = 1) -> int:
    """Greedy one-to-one matches within ``tolerance`` frames."""
    used, hits = set(), 0
    for t in truth:
        best = min((p for p in predicted if p not in used and abs(p - t) <= tolerance),
                   key=lambda p: abs(p - t), default=None)
        if best is not None:
            used.add(best)
            hits += 1
    return hits


def score(boundaries: list[tuple[int, str | None]], truth: dict, fps: float,
          pans: list[tuple[int, int]]) -> Score:
    """``boundaries``: (frame, kind) with kind None when the detector does not say."""
    windows = [(g["start_frame"] - int(0.5 * fps), g["end_frame"] + int(0.5 * fps)) for g in truth["gradual"]]

    def near_gradual(frame: int) -> bool:
        return any(a <= frame <= b for a, b in windows)

    # A cut is a boundary not attributed to a gradual transition.
    cuts = [f for f, kind in boundaries if kind == "cut" or (kind is None and not near_gradual(f))]
    hits = match(cuts, truth["cuts"])
    precision = hits / len(cuts) if cuts else 1.0
    recall = hits / len(truth["cuts"]) if truth["cuts"] else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0

    gradual_found = 0
    for a, b in windows:
        inside = [(f, kind) for f, kind in boundaries if a <= f <= b]
        if len(inside) == 1 and inside[0][1] in ("gradual", None):
            gradual_found += 1
    flash_false = sum(any(abs(f - fl) <= 3 for fl in truth["flashes"]) for f, _ in boundaries)
    pan_false = sum(any(s + 1 < f < e - 1 for s, e in pans) for f, _ in boundaries)
    return Score(precision, recall, f1, gradual_found, len(windows), flash_false, pan_false)
