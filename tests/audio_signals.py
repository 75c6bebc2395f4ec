"""Test signals for the audio tests (the generators live in prism.media.audio_synth)."""

from prism.media.audio_synth import RATE, music_bed, place, speech, tone, write_audio

__all__ = ["RATE", "music_bed", "place", "speech", "tone", "write_audio"]
