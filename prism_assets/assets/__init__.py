"""Per-title assets, one module per domain."""

from prism_assets.assets.audio import AUDIO_ASSETS, audio, audio_qc, loudness, speech_segments, transcript
from prism_assets.assets.intake import delivery
from prism_assets.assets.source import source_probe

PER_TITLE_ASSETS = [delivery, source_probe, *AUDIO_ASSETS]

__all__ = ["PER_TITLE_ASSETS", "audio", "audio_qc", "delivery", "loudness", "source_probe", "speech_segments",
           "transcript"]
