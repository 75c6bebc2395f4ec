"""Per-title assets, one module per domain."""

from prism_assets.assets.audio import (
    AUDIO_ASSETS,
    audio,
    audio_qc,
    loudness,
    speakers,
    speech_segments,
    transcript,
)
from prism_assets.assets.embeddings import (
    EMBEDDING_ASSETS,
    onscreen_text_embeddings,
    text_embeddings,
    vectors,
    visual_embeddings,
)
from prism_assets.assets.intake import delivery
from prism_assets.assets.qc import qc, report, title_bundle
from prism_assets.assets.series_voices import SPEAKER_ASSETS, voices
from prism_assets.assets.source import source_probe
from prism_assets.assets.visual import frame_signals, keyframes, onscreen_text, shots, visual_qc

VISUAL_ASSETS = [frame_signals, shots, keyframes, onscreen_text, visual_qc]
QC_ASSETS = [qc, report, title_bundle]
PER_TITLE_ASSETS = [delivery, source_probe, *VISUAL_ASSETS, *AUDIO_ASSETS, *SPEAKER_ASSETS, *EMBEDDING_ASSETS,
                    *QC_ASSETS]

__all__ = [
    "PER_TITLE_ASSETS", "audio", "audio_qc", "delivery", "frame_signals", "keyframes", "loudness",
    "onscreen_text", "onscreen_text_embeddings", "qc", "report", "shots", "source_probe", "speakers",
    "speech_segments", "text_embeddings", "title_bundle", "transcript", "vectors", "visual_embeddings",
    "visual_qc", "voices",
]
