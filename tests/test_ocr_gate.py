"""The cheap paths of text detection, on real photographs with real text and the real PP-OCR
detector: the gate skips pictures that hold no text and never small sign text; the change-aware
detector reuses the boxes of a picture that did not change and detects only where it did."""

from __future__ import annotations

import numpy as np
import pytest
from ocr_truth import DEJAVU, NANUM, font, photo
from PIL import Image, ImageDraw

from prism.ocr.base import Box
from prism.ocr.rapid import ChangeAwareDetector, RapidDetector


@pytest.fixture(scope="module")
def detectors():
    return RapidDetector(), RapidDetector(gate=False)


def _with_text(image: Image.Image, lines) -> np.ndarray:
    """Dark text on light cards (a sign), each line (text, font path, size, x, y)."""
    image = image.copy()
    draw = ImageDraw.Draw(image)
    for text, path, size, x, y in lines:
        f = font(path, size)
        left, top, right, bottom = draw.textbbox((x, y), text, font=f)
        pad = max(size // 3, 4)
        draw.rectangle((left - pad, top - pad, right + pad, bottom + pad), fill=(238, 236, 228))
        draw.text((x, y), text, font=f, fill=(20, 20, 20))
    return np.asarray(image)


def _found(boxes, x: int, y: int) -> bool:
    return any(b.x <= x + 8 and b.y <= y + 8 <= b.y + b.h for b in boxes)


def test_a_picture_without_text_is_gated(detectors):
    gated, _ = detectors
    before = gated.stats.copy()
    # A cat's fur, a portrait: textured, but no text.
    for name, width, height in (("chelsea", 640, 360), ("chelsea", 1920, 1080), ("astronaut", 1920, 1080)):
        assert gated.detect(np.asarray(photo(name, width, height))) == []
    assert gated.stats["gated"] - before["gated"] == 3
    assert gated.stats["regions"] == before["regions"] and gated.stats["full"] == before["full"]


@pytest.mark.parametrize("size", [(640, 360), (1920, 1080)])
def test_small_sign_text_passes_the_gate(detectors, size):
    gated, plain = detectors
    width, height = size
    k = width // 640  # the test titles' 14-15 px signs at 360p; 20 px at 1080p
    lines = [("SEOUL STATION", DEJAVU, 14 if k == 1 else 20, 420 * k, 60 * k),
             ("서울역 2번 출구", NANUM, 15 if k == 1 else 20, 60 * k, 250 * k)]
    image = _with_text(photo("coffee", width, height), lines)
    before = gated.stats.copy()
    boxes = [d.box for d in gated.detect(image)]
    assert gated.stats["gated"] == before["gated"]
    for _, _, _, x, y in lines:
        assert _found(boxes, x, y), (x, y, boxes)
    # The full-scale pass on the gate's regions finds the boxes the plain detector finds.
    reference = [d.box for d in plain.detect(image)]
    assert len(boxes) == len(reference)
    for a, b in zip(boxes, reference, strict=True):
        assert a.iou(b) >= 0.85, (a, b)


def test_unchanged_pictures_reuse_boxes_and_changes_are_detected_in_place():
    inner = RapidDetector()
    detector = ChangeAwareDetector(inner)
    background = photo("coffee", 640, 360)
    first = _with_text(background, [("OPEN DAILY", DEJAVU, 26, 40, 40)])
    boxes = detector.detect(first)
    assert len(boxes) == 1 and detector.stats["full"] == 1

    # The same picture, re-encoded with a little noise: the boxes are reused, PP-OCR is not run.
    rng = np.random.default_rng(0)
    noisy = np.clip(first.astype(np.int16) + rng.integers(-3, 4, first.shape), 0, 255).astype(np.uint8)
    calls = inner.stats["frames"]
    assert detector.detect(noisy) == boxes
    assert detector.stats["reused"] == 1 and inner.stats["frames"] == calls

    # A sign appears in a corner: only that region is detected, the first line's box is kept.
    second = _with_text(background, [("OPEN DAILY", DEJAVU, 26, 40, 40),
                                     ("서울역 2번 출구", NANUM, 15, 420, 300)])
    found = [d.box for d in detector.detect(second)]
    assert detector.stats["partial"] == 1 and inner.stats["frames"] == calls + 1
    assert boxes[0].box in found and _found(found, 420, 300), found

    # The sign goes away again: its box goes with it.
    assert [d.box for d in detector.detect(first)] == [boxes[0].box]

    # Another picture altogether: detected whole.
    other = _with_text(photo("chelsea", 640, 360), [("Where are you going?", DEJAVU, 26, 200, 300)])
    assert _found([d.box for d in detector.detect(other)], 200, 300)
    assert detector.stats["full"] == 2


def test_a_line_growing_out_of_a_changed_region_is_detected_whole():
    detector = ChangeAwareDetector(RapidDetector())
    background = photo("coffee", 640, 360)
    detector.detect(_with_text(background, [("OPEN", DEJAVU, 26, 40, 40)]))
    longer = _with_text(background, [("OPEN DAILY FROM NINE TO TEN", DEJAVU, 26, 40, 40)])
    boxes = [d.box for d in detector.detect(longer)]
    reference = [d.box for d in RapidDetector(gate=False).detect(longer)]
    assert len(boxes) == 1 and boxes[0].iou(reference[0]) >= 0.85, (boxes, reference)
    assert isinstance(boxes[0], Box)
