"""Per-title assets, one module per domain."""

from prism_assets.assets.intake import delivery
from prism_assets.assets.source import source_probe
from prism_assets.assets.visual import frame_signals, keyframes, shots, visual_qc

PER_TITLE_ASSETS = [delivery, source_probe, frame_signals, shots, keyframes, visual_qc]

__all__ = ["PER_TITLE_ASSETS", "delivery", "frame_signals", "keyframes", "shots", "source_probe", "visual_qc"]
