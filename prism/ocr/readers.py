"""Choosing the reading by script.

PP-OCR's recogniser reads Latin lines well and fast; it has no Korean and reads Hangul as
Chinese characters (or as low-confidence Latin noise). Tesseract with Korean + English data reads
Hangul (and mixed Korean/English lines). So every line is first read by the primary (Latin)
reader; a line that does not come back as sure Latin (Hangul comes back empty, as Chinese, or
as a stray digit) is read again by the Korean reader, and the reading that is Hangul, or the
fuller or more confident one, is kept.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from prism.ocr.base import Box, TextLine, TextReader


class ScriptRoutedReader:
    """A :class:`~prism.ocr.base.TextReader` that routes each line to the reader of its script."""

    def __init__(self, latin: TextReader, korean: TextReader, *, sure: float = 0.9):
        self.latin = latin
        self.korean = korean
        self.sure = sure
        self.name = f"{latin.name}+{korean.name}"

    def read(self, image: np.ndarray, boxes: Sequence[Box]) -> list[TextLine]:
        first = self.latin.read(image, boxes)
        out = []
        for line in first:
            if line.script == "Latn" and line.confidence >= self.sure:
                out.append(line)
                continue
            # Not surely Latin: Hangul comes back empty, as Chinese, or as a stray digit or mark.
            second = self.korean.read(image, [line.box])[0]
            if second.script == "Hang" and second.confidence >= 0.3:
                out.append(second)
            elif not line.text or len(second.text) > 2 * len(line.text):
                out.append(second)
            else:
                out.append(max((line, second), key=lambda x: x.confidence))
        return out
