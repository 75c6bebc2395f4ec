"""Embedding model resources: the keyframe (image) embedder and the transcript (text) embedder.

Like the audio models, each is loaded on first use (keyed by its configuration, never at
import time) and kept until the run's last step that uses it (resources.models). ``source`` is a
local directory, an ``s3://`` prefix in the model store (synced once into the model cache) or a hub id; with no
source the image embedder is the built-in colour-layout descriptor (image-only) and the text
embedder the all-MiniLM-L6-v2 that ships in the ``demo`` extra. A ``bedrock:<model id>`` source is
Amazon Bedrock (prism.embeddings.bedrock), configured by the ``bedrock_*`` fields; its vectors are
cached by content hash under ``embedding_cache_uri``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import ClassVar

from prism.embeddings.base import ImageEmbedder, TextEmbedder
from prism.embeddings.bedrock import BedrockOptions
from prism.embeddings.loading import describe_text_embedder, load_image_embedder, load_text_embedder
from prism.threads import limit_loaded_torch
from resources.models import IMAGE_EMBEDDING, MODELS, TEXT_EMBEDDING
from resources.s3 import S3Connected


class _OneCallAtATime:
    """A loaded embedder shared by the steps of a process, called by one step at a time.

    ``prism run`` executes ready steps at once on threads (prism_assets.executor), and two of them
    share the text model (``text_embeddings``, ``onscreen_text_embeddings``). Hugging Face fast
    tokenizers are not re-entrant ("Already borrowed" when two threads tokenize at once), so the
    embedding calls are serialized; everything else (``dim``, ``model_id``, …) is the embedder's."""

    def __init__(self, embedder: object):
        self._embedder, self._calls = embedder, threading.Lock()

    def __getattr__(self, name: str):
        attr = getattr(self._embedder, name)
        if not name.startswith("embed_") or not callable(attr):
            return attr

        def serialized(*args, **kwargs):
            with self._calls:
                return attr(*args, **kwargs)

        return serialized

    def __repr__(self) -> str:
        return repr(self._embedder)


class _EmbeddingModel(S3Connected):
    family: ClassVar[str]  # the registry's model family (resources.models)
    source: str | None = None
    device: str = "auto"
    batch_size: int = 32
    threads: int = 0  # torch threads on CPU (0: torch's default); prism.threads
    cache_dir: str = ".prism/models"
    bedrock_dimension: int = 1024
    bedrock_max_concurrency: int = 8
    bedrock_max_attempts: int = 8
    bedrock_region: str | None = None
    bedrock_endpoint_url: str | None = None
    embedding_cache_uri: str | None = None  # None: managed-backend vectors are not cached

    def bedrock_options(self) -> BedrockOptions:
        cache = self.embedding_cache_uri
        return BedrockOptions(dimension=self.bedrock_dimension, max_concurrency=self.bedrock_max_concurrency,
                              max_attempts=self.bedrock_max_attempts, region=self.bedrock_region,
                              endpoint_url=self.bedrock_endpoint_url, cache_uri=cache,
                              cache_storage_options=self.storage_options_for(cache) if cache else {})

    def _key(self) -> tuple:
        # The registry's family first (resources.models: a run lets go of a family after its last step).
        return (self.family, self.source, self.device, self.batch_size, self.cache_dir,
                repr(self.bedrock_options()), self.s3_endpoint_url, self.s3_region)

    def _load(self, loader):
        key = self._key()
        def load():
            embedder = _OneCallAtATime(loader(
                self.source, device=self.device, batch_size=self.batch_size, cache_dir=Path(self.cache_dir),
                s3_options=self.storage_options(), bedrock=self.bedrock_options()))
            limit_loaded_torch(self.threads)
            return embedder

        return MODELS.get(key, load)


class VisualEmbeddingModel(_EmbeddingModel):
    """Keyframe embeddings: CLIP/SigLIP through ``transformers`` (text tower for text → shot
    search), or the built-in colour-layout descriptor."""

    family: ClassVar[str] = IMAGE_EMBEDDING

    def embedder(self) -> ImageEmbedder:
        return self._load(load_image_embedder)


class TextEmbeddingModel(_EmbeddingModel):
    """Transcript-segment embeddings from a sentence-embedding model."""

    family: ClassVar[str] = TEXT_EMBEDDING

    def embedder(self) -> TextEmbedder:
        return self._load(load_text_embedder)

    def identity(self) -> tuple[str, int]:
        """(model id, dimension) of the configured model: read from its files when they tell
        (no torch, no weights loaded: an input with no text needs no more), else from the loaded
        embedder."""
        loaded = MODELS.peek(self._key())
        if loaded is not None:
            return loaded.model_id, loaded.dim
        described = describe_text_embedder(self.source, cache_dir=Path(self.cache_dir),
                                           s3_options=self.storage_options())
        if described is not None:
            return described
        embedder = self.embedder()
        return embedder.model_id, embedder.dim
