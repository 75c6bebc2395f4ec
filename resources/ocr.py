"""The on-screen text resource: the text detector and the script-routed reader, and their settings.

Models are loaded on first use (keyed by configuration, never at import time) and kept until
the run's last step that uses them (resources.models): PP-OCR detection (behind the half-scale
gate, detecting only what changed since the last picture: ``prism.ocr.rapid.text_detector``)
and Latin recognition from the ``rapidocr`` wheel, Korean and English reading by in-process
Tesseract (``tesserocr``, with Debian's ``tesseract-ocr-kor``/``-eng`` data). See docs/ocr.md.
"""

from __future__ import annotations

from dagster import ConfigurableResource

from prism.ocr.base import TextDetector, TextReader
from prism.ocr.events import EventOptions
from prism.ocr.video import OcrOptions
from resources.models import MODELS, OCR


class OnscreenTextModel(ConfigurableResource):
    interval_s: float = 1.0  # PRISM_OCR_INTERVAL_S: seconds between sampled frames within a shot
    detector_side: int = 960  # longer side the detector works at (px)
    languages: str = "kor+eng"  # Tesseract languages for non-Latin lines
    min_confidence: float = 0.5  # events read less surely than this are dropped
    threads: int = 1  # ONNX Runtime threads per model

    def _load(self, what: str, build):
        return MODELS.get((OCR, what, self.detector_side, self.languages, self.threads), build)

    def detector(self) -> TextDetector:
        from prism.ocr.rapid import text_detector

        return self._load("detector", lambda: text_detector(limit_side_len=self.detector_side,
                                                            threads=self.threads))

    def reader(self) -> TextReader:
        from prism.ocr.rapid import RapidReader
        from prism.ocr.readers import ScriptRoutedReader
        from prism.ocr.tesseract import TesseractReader

        return self._load("reader", lambda: ScriptRoutedReader(RapidReader(threads=self.threads),
                                                               TesseractReader(self.languages)))

    def options(self) -> OcrOptions:
        return OcrOptions(interval_s=self.interval_s, events=EventOptions(min_confidence=self.min_confidence))
