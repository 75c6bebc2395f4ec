"""Image embeddings (and text queries in the same space) from CLIP/SigLIP-family checkpoints
through ``transformers``; image-only checkpoints (ViT, DINOv2, ...) embed images alone.

The checkpoint is loaded with ``AutoModel``, ``AutoImageProcessor`` and, for a model with a
text tower, ``AutoTokenizer`` (each reads its own files, whether or not a combined
``processor_config.json`` is present). A model has a text tower when it offers
``get_text_features`` (CLIPModel, SiglipModel, Siglip2Model, ...); its image vector is then
``get_image_features`` (the projected embedding), otherwise the backbone's pooled output.

Text queries:
- CLIP pads to the longest query in a batch with its attention mask; SigLIP was trained on
  sequences padded to a fixed length (64) without a mask and pools the last position, so its
  queries are padded to that length and fed without a mask, as the SigLIP authors do.
  SigLIP 2 was trained on lower-cased text: its queries are lower-cased (transformers 5's
  ``Siglip2Tokenizer`` does so too; this holds whichever tokenizer class a checkpoint names).
- A query longer than the text tower's positions (77 for CLIP, 64 for SigLIP) is truncated
  to them; nothing is ever an error for being long.
- A blank query (empty or whitespace only) raises ``EmbeddingError``: a text tower places such
  a query at an arbitrary point of the space, and ranking shots against it returns noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from prism.embeddings.base import EmbeddingError, NoTextTower, l2_normalize
from prism.embeddings.runtime import (
    batches,
    check_batch_size,
    check_texts,
    default_model_id,
    inference_dtype,
    resolve_device,
    resolve_source,
)

# Characters kept of a query before tokenizing: far more than any text tower's positions hold
# (a token covers at least one character), so truncation happens in the tokenizer, while a
# megabyte-long "query" costs no more to tokenize than a paragraph.
_CHARS_PER_POSITION = 64


def _vector(output: Any) -> Any:
    """The embedding tensor of a ``get_*_features`` result or a backbone's output: transformers 5
    returns an output object whose ``pooler_output`` is the (projected) vector, 4.x a tensor."""
    import torch

    if isinstance(output, torch.Tensor):
        vector = output
    else:
        vector = None
        for name in ("image_embeds", "text_embeds", "pooler_output"):
            vector = getattr(output, name, None)
            if vector is not None:
                break
        if vector is None:
            hidden = getattr(output, "last_hidden_state", None)
            if hidden is None:
                raise EmbeddingError(f"the model returned {type(output).__name__} without a pooled vector")
            vector = hidden.mean(dim=1)  # no pooler: the mean of the patch tokens
    return vector.flatten(1) if vector.ndim > 2 else vector


def _configured_dim(config: Any) -> int | None:
    """The embedding width the config promises: the joint projection (CLIP), else the vision width
    (SigLIP's image and text towers share it; ViT/DINOv2 pool at their hidden size)."""
    if getattr(config, "projection_dim", None):
        return int(config.projection_dim)
    vision = getattr(config, "vision_config", None)
    if vision is not None and getattr(vision, "hidden_size", None):
        return int(vision.hidden_size)
    if getattr(config, "hidden_size", None):
        return int(config.hidden_size)
    sizes = getattr(config, "hidden_sizes", None)  # convolutional backbones (ConvNeXt, ResNet)
    return int(sizes[-1]) if sizes else None


class TransformersImageEmbedder:
    """``ImageEmbedder`` over a ``transformers`` checkpoint (local directory or hub id).

    ``device``: "auto" (CUDA when visible), "cpu", "cuda", "cuda:N"; fp16 weights on CUDA.
    ``model_id``: defaults to the hub id, or for a local directory "<dir name>@<weights hash>".
    """

    def __init__(self, path_or_id: str, *, device: str = "auto", batch_size: int = 32,
                 model_id: str | None = None):
        import torch
        from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

        source, directory = resolve_source(path_or_id)
        self.source = path_or_id
        self.batch_size = check_batch_size(batch_size)
        self.device = resolve_device(device)
        self._dtype = inference_dtype(self.device)
        try:
            self._model = AutoModel.from_pretrained(source, dtype=self._dtype).to(self.device).eval()
        except Exception as exc:
            raise EmbeddingError(f"cannot load an image model from {path_or_id!r}: {exc}") from exc
        try:
            self._image_processor = AutoImageProcessor.from_pretrained(source)
        except Exception as exc:
            raise EmbeddingError(f"cannot load the image processor of {path_or_id!r} "
                                 f"(preprocessor_config.json or processor_config.json): {exc}") from exc
        config = self._model.config
        self.model_type: str = getattr(config, "model_type", "") or ""
        self.has_text_tower = callable(getattr(self._model, "get_text_features", None))
        self._tokenizer = None
        self._text_positions = 0
        if self.has_text_tower:
            try:
                self._tokenizer = AutoTokenizer.from_pretrained(source)
            except Exception as exc:
                raise EmbeddingError(
                    f"{path_or_id!r} has a text tower but its tokenizer cannot be loaded: {exc}") from exc
            text_config = getattr(config, "text_config", config)
            self._text_positions = int(getattr(text_config, "max_position_embeddings", 0)
                                       or min(self._tokenizer.model_max_length, 512))
        self._siglip = self.model_type.startswith("siglip")
        self._lowercase = self.model_type == "siglip2"
        self.model_id = model_id or default_model_id(path_or_id, directory)

        # One probe through each tower: the width the config promises must be the width produced,
        # and the text tower must land in the image space (else text→shot search is meaningless).
        with torch.inference_mode():
            probe = self._embed_image_batch([Image.new("RGB", (64, 64), (128, 128, 128))])
        self.dim = int(probe.shape[1])
        expected = _configured_dim(config)
        if expected is not None and expected != self.dim:
            raise EmbeddingError(f"{path_or_id!r}: the config promises {expected}-dim vectors "
                                 f"but the model produces {self.dim}")
        if self.has_text_tower:
            text_dim = self.embed_text_queries(["a photo"]).shape[1]
            if text_dim != self.dim:
                raise EmbeddingError(f"{path_or_id!r}: text vectors have {text_dim} dimensions, "
                                     f"image vectors {self.dim}: not one embedding space")

    def __repr__(self) -> str:
        return (f"TransformersImageEmbedder(model_id={self.model_id!r}, dim={self.dim}, "
                f"text_tower={self.has_text_tower}, device={self.device})")

    # -- images ------------------------------------------------------------------------------
    def _to_device(self, inputs: Any) -> dict[str, Any]:
        import torch

        moved = {}
        for key, value in dict(inputs).items():
            if isinstance(value, torch.Tensor):
                value = value.to(self.device)
                if value.is_floating_point():
                    value = value.to(self._dtype)
            moved[key] = value
        return moved

    def _embed_image_batch(self, images: Sequence[Image.Image]) -> np.ndarray:
        rgb = [im if im.mode == "RGB" else im.convert("RGB") for im in images]
        inputs = self._to_device(self._image_processor(images=rgb, return_tensors="pt"))
        if self.has_text_tower:
            output = self._model.get_image_features(**inputs)
        else:
            output = self._model(**inputs)
        return l2_normalize(_vector(output).float().cpu().numpy())

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        import torch

        images = list(images)
        for i, image in enumerate(images):
            if not isinstance(image, Image.Image):
                raise EmbeddingError(f"image #{i} is {type(image).__name__}, not a PIL image")
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        with torch.inference_mode():
            return np.concatenate([self._embed_image_batch(b) for b in batches(images, self.batch_size)])

    # -- text queries ------------------------------------------------------------------------
    def embed_text_queries(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        if not self.has_text_tower:
            raise NoTextTower(
                f"the visual model {self.model_id!r} embeds images only (it has no text tower), so it cannot "
                "place a text query among shots; text→shot search needs a CLIP/SigLIP-family model "
                "(set PRISM_VISUAL_MODEL_SOURCE to one). Visually similar shots (search --like) still work.")
        texts = check_texts(texts)
        for i, text in enumerate(texts):
            if not text.strip():
                raise EmbeddingError(f"text query #{i} is blank: a text query needs at least one word")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        limit = self._text_positions * _CHARS_PER_POSITION
        texts = [t[:limit].lower() if self._lowercase else t[:limit] for t in texts]
        out = []
        with torch.inference_mode():
            for batch in batches(texts, self.batch_size):
                tokens = self._tokenizer(list(batch), padding="max_length" if self._siglip else "longest",
                                         truncation=True, max_length=self._text_positions, return_tensors="pt")
                keys = ("input_ids",) if self._siglip else ("input_ids", "attention_mask")
                inputs = {k: tokens[k] for k in keys if k in tokens}
                output = self._model.get_text_features(**self._to_device(inputs))
                out.append(l2_normalize(_vector(output).float().cpu().numpy()))
        return np.concatenate(out)
