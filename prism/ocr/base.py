"""The pieces of on-screen text reading: boxes, detected and read lines, and the two interfaces.

A :class:`TextDetector` finds text lines in a frame (boxes, no text); a :class:`TextReader`
reads the lines in given boxes of a frame. Detection and reading are separate because a frame
is detected once but its lines may be read by different readers, chosen by script (see
:mod:`prism.ocr.readers`), and because the boundary refinement needs the cheap detector alone.
Images are RGB ``uint8`` arrays of shape (height, width, 3).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in pixels of the frame it was found in."""

    x: int
    y: int
    w: int
    h: int

    @property
    def area(self) -> int:
        return max(self.w, 0) * max(self.h, 0)

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2

    def intersection(self, other: Box) -> int:
        w = min(self.x + self.w, other.x + other.w) - max(self.x, other.x)
        h = min(self.y + self.h, other.y + other.h) - max(self.y, other.y)
        return max(w, 0) * max(h, 0)

    def iou(self, other: Box) -> float:
        inter = self.intersection(other)
        union = self.area + other.area - inter
        return inter / union if union else 0.0

    def overlap(self, other: Box) -> float:
        """Intersection over the smaller box (1.0 when one contains the other)."""
        smaller = min(self.area, other.area)
        return self.intersection(other) / smaller if smaller else 0.0

    def padded(self, pad_x: int, pad_y: int, width: int, height: int) -> Box:
        """The box grown by the pads, clipped to a ``width`` x ``height`` frame."""
        x0, y0 = max(self.x - pad_x, 0), max(self.y - pad_y, 0)
        x1, y1 = min(self.x + self.w + pad_x, width), min(self.y + self.h + pad_y, height)
        return Box(x0, y0, max(x1 - x0, 0), max(y1 - y0, 0))

    def shifted(self, dx: int, dy: int) -> Box:
        return Box(self.x + dx, self.y + dy, self.w, self.h)

    def union(self, other: Box) -> Box:
        x0, y0 = min(self.x, other.x), min(self.y, other.y)
        x1 = max(self.x + self.w, other.x + other.w)
        y1 = max(self.y + self.h, other.y + other.h)
        return Box(x0, y0, x1 - x0, y1 - y0)

    def crop(self, image: np.ndarray) -> np.ndarray:
        return image[self.y:self.y + self.h, self.x:self.x + self.w]


@dataclass(frozen=True)
class Detection:
    box: Box
    score: float


@dataclass(frozen=True)
class TextLine:
    """One line of text read in a frame."""

    box: Box
    text: str
    script: str  # ISO 15924: Hang, Latn, Hani, Jpan, Zyyy (digits and symbols only)
    confidence: float  # 0-1, the reader's own
    reader: str = ""


@runtime_checkable
class TextDetector(Protocol):
    name: str

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Text line boxes in the image, top to bottom."""
        ...


@runtime_checkable
class TextReader(Protocol):
    """Reads the lines in ``boxes`` of ``image``; one TextLine per box, in the same order (an
    unreadable box gives an empty text with confidence 0). A production recogniser with weights
    from the model store is one more implementation of this."""

    name: str

    def read(self, image: np.ndarray, boxes: Sequence[Box]) -> list[TextLine]:
        ...


def _script_of_char(ch: str) -> str | None:
    code = ord(ch)
    if 0xAC00 <= code <= 0xD7A3 or 0x1100 <= code <= 0x11FF or 0x3130 <= code <= 0x318F:
        return "Hang"
    if 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0xF900 <= code <= 0xFAFF:
        return "Hani"
    if 0x3040 <= code <= 0x30FF:
        return "Jpan"
    if ch.isalpha() and unicodedata.name(ch, "").startswith("LATIN"):
        return "Latn"
    return None


def script_counts(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for ch in text:
        script = _script_of_char(ch)
        if script:
            counts[script] = counts.get(script, 0) + 1
    return counts


def script_of(text: str) -> str:
    """The line's main script (ISO 15924 code); Hangul wins over Latin when both appear, since a
    Korean line often carries a Latin word or two. 'Zyyy' for digits and symbols only."""
    counts = script_counts(text)
    if not counts:
        return "Zyyy"
    if counts.get("Hang"):
        return "Hang"
    return max(counts, key=lambda s: counts[s])


def normalize_text(text: str) -> str:
    """NFC, single spaces, stripped: how texts are compared and stored."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def similarity(a: str, b: str) -> float:
    """1 - normalised edit distance of the two texts with spaces removed (0-1)."""
    a, b = "".join(a.split()), "".join(b.split())
    if not a and not b:
        return 1.0
    return 1.0 - edit_distance(a, b) / max(len(a), len(b))


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (characters)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]
