"""PP-OCR through ``rapidocr`` (ONNX weights inside its wheel): text detection, and reading of
Latin (and Chinese/Japanese) lines. Its recogniser has no Korean: it reads Hangul as Chinese
characters with a low score, which is how :class:`~prism.ocr.readers.ScriptRoutedReader` knows
to hand a line to Tesseract.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from prism.ocr.base import Box, Detection, TextLine, normalize_text, script_of


def _engine(limit_side_len: int, threads: int):
    from rapidocr import RapidOCR

    engine = RapidOCR(params={
        "Global.log_level": "error",
        "Global.use_cls": False,
        "Det.limit_type": "max",
        "Det.limit_side_len": limit_side_len,
        "EngineConfig.onnxruntime.intra_op_num_threads": threads,
        "EngineConfig.onnxruntime.inter_op_num_threads": 1,
    })
    logging.getLogger("RapidOCR").setLevel(logging.ERROR)
    return engine


def _boxes(points: np.ndarray | None, scores, width: int, height: int) -> list[Detection]:
    if points is None or len(points) == 0:
        return []
    out = []
    for quad, score in zip(points, scores, strict=False):
        quad = np.asarray(quad, dtype=np.float64)
        x0, y0 = np.floor(quad.min(axis=0)).astype(int)
        x1, y1 = np.ceil(quad.max(axis=0)).astype(int)
        x0, y0 = max(int(x0), 0), max(int(y0), 0)
        x1, y1 = min(int(x1), width), min(int(y1), height)
        if x1 - x0 >= 4 and y1 - y0 >= 4:
            out.append(Detection(Box(x0, y0, x1 - x0, y1 - y0), float(score)))
    out.sort(key=lambda d: (d.box.y, d.box.x))
    return out


class RapidDetector:
    """PP-OCRv6 (small) text detection. ``limit_side_len``: the longer side is scaled down to
    this before detection (960 keeps 1080p text down to ~14 px tall and costs a quarter of a
    full-resolution pass)."""

    def __init__(self, *, limit_side_len: int = 960, threads: int = 1):
        self.engine = _engine(limit_side_len, threads)
        self.name = f"ppocrv6-det-{limit_side_len}"

    def detect(self, image: np.ndarray) -> list[Detection]:
        h, w = image.shape[:2]
        bgr = np.ascontiguousarray(image[:, :, ::-1])
        result = self.engine(bgr, use_det=True, use_cls=False, use_rec=False)
        return _boxes(getattr(result, "boxes", None), getattr(result, "scores", None) or [], w, h)


class RapidReader:
    """PP-OCRv6 (small) recognition of line crops: Latin, Chinese, Japanese."""

    def __init__(self, *, threads: int = 1):
        self.engine = _engine(960, threads)
        self.name = "ppocrv6-rec"

    def read_crop(self, rgb: np.ndarray) -> tuple[str, float]:
        if rgb.size == 0 or min(rgb.shape[:2]) < 4:
            return "", 0.0
        result = self.engine(np.ascontiguousarray(rgb[:, :, ::-1]), use_det=False, use_cls=False, use_rec=True)
        txts = getattr(result, "txts", None) or ()
        scores = getattr(result, "scores", None) or ()
        if not txts:
            return "", 0.0
        return normalize_text(str(txts[0])), float(scores[0]) if scores else 0.0

    def read(self, image: np.ndarray, boxes: Sequence[Box]) -> list[TextLine]:
        lines = []
        for box in boxes:
            text, conf = self.read_crop(box.crop(image))
            lines.append(TextLine(box, text, script_of(text), conf, self.name))
        return lines
