"""Audio analysis: one streaming decode per track, BS.1770 loudness, Silero VAD, Whisper ASR,
subtitle writers and audio QC. Plain typed Python; the Dagster wiring lives in
``prism_assets/assets/audio.py``."""
