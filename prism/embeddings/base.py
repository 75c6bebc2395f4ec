"""The two embedding interfaces the assets and search use.

An *image embedder* turns keyframes into vectors and, when the model has one, turns a text
query into a vector in the same space through its text tower (CLIP, SigLIP). A *text
embedder* turns transcript lines (and text queries over them) into vectors. Every vector
leaving these interfaces is float32 and L2-normalised, so the dot product is the cosine
similarity and LanceDB's ``cosine`` metric and a plain ``@`` agree.

Backends (``transformers`` CLIP/SigLIP, the built-in colour-layout descriptor, sentence
embedders, Amazon Bedrock) implement these protocols; the assets never see
which one they got. ``model_id`` is stored with every vector table so a model change is
detected instead of silently mixing two embedding spaces.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image


class EmbeddingError(RuntimeError):
    """A model cannot be loaded or cannot embed what it was given."""


class NoTextTower(EmbeddingError):
    """The visual model embeds images only: it cannot place a text query among shots."""


@runtime_checkable
class ImageEmbedder(Protocol):
    model_id: str  # stable identity of the weights, e.g. "google/siglip2-base-patch16-224"
    dim: int
    has_text_tower: bool

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """(n, dim) float32, rows L2-normalised; batched internally."""
        ...

    def embed_text_queries(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) float32 in the image space; raises NoTextTower when there is none."""
        ...


@runtime_checkable
class TextEmbedder(Protocol):
    model_id: str
    dim: int

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) float32, rows L2-normalised; batched internally. A backend whose model embeds a
        search query differently from indexed text (Bedrock's retrieval purpose) also offers
        ``embed_text_queries``, which search then uses."""
        ...


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (an all-zero row stays zero instead of becoming NaN)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)
