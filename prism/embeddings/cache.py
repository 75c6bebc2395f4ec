"""Vectors of a managed embedding service, cached by content hash so a re-run pays nothing.

Key: SHA-256 over the model id, the dimension, the embedding purpose, the input's kind and its
content (an image's decoded RGB pixels and size, or a text's UTF-8 bytes). Pixels rather than
file bytes: the same still re-encoded by another Pillow version is the same input. The purpose is
part of the key because a managed model embeds the same content differently for indexing and for
retrieval.

Layout: ``<root>/<model id, filesystem-safe>-<dim>/<key[:2]>/<key>.f32`` — the raw little-endian
float32 vector (``dim × 4`` bytes). The root is a local directory or an ``s3://`` prefix
(default ``<storage>/cache/embeddings``: it survives container restarts, unlike the model cache).
Writes are atomic (``prism.storage.atomic_write``); an entry of the wrong size is a miss, never
a wrong vector. Entries are never invalidated: the same key always means the same vector.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import numpy as np
from PIL import Image

from prism.storage import atomic_write, open_root, with_retries

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def image_digest(image: Image.Image) -> bytes:
    """SHA-256 of an image's content: mode, size and pixels (RGB)."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    digest = hashlib.sha256(f"RGB:{rgb.width}x{rgb.height}:".encode())
    digest.update(rgb.tobytes())
    return digest.digest()


def text_digest(text: str) -> bytes:
    return hashlib.sha256(b"TEXT:" + text.encode("utf-8")).digest()


def cache_key(model_id: str, dim: int, purpose: str, content_digest: bytes) -> str:
    digest = hashlib.sha256(f"{model_id}\0{dim}\0{purpose}\0".encode())
    digest.update(content_digest)
    return digest.hexdigest()


class VectorCache:
    """Get/put float32 vectors by key under one model's directory (local or ``s3://``)."""

    def __init__(self, uri: str, model_id: str, dim: int, storage_options: dict[str, Any] | None = None):
        self.uri = uri
        self.dim = dim
        root, self.is_local = open_root(uri, storage_options)
        self.base = root / f"{_UNSAFE.sub('_', model_id)}-{dim}"

    def __repr__(self) -> str:
        return f"VectorCache({self.uri!r}, dim={self.dim})"

    def _path(self, key: str) -> Any:
        return self.base / key[:2] / f"{key}.f32"

    def get(self, key: str) -> np.ndarray | None:
        path = self._path(key)
        try:
            data = with_retries(path.read_bytes, what=str(path))
        except FileNotFoundError:
            return None
        if len(data) != self.dim * 4:
            return None
        vector = np.frombuffer(data, dtype="<f4").astype(np.float32)
        return vector if np.isfinite(vector).all() else None

    def put(self, key: str, vector: np.ndarray) -> None:
        data = np.asarray(vector, dtype="<f4").reshape(-1)
        if data.shape[0] != self.dim:
            raise ValueError(f"vector has {data.shape[0]} dimensions, the cache holds {self.dim}")
        atomic_write(self._path(key), data.tobytes(), local=self.is_local)
