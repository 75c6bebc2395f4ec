"""What the ``transformers`` embedders share: where a model comes from, which device runs it,
and the stable identity of its weights."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from prism.embeddings.base import EmbeddingError

if TYPE_CHECKING:
    import torch

T = TypeVar("T")

# "org/name" or "name" as the Hugging Face hub spells ids (no path separators beyond one "/").
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


def resolve_source(path_or_id: str) -> tuple[str, Path | None]:
    """(what ``from_pretrained`` is given, the local directory or None for a hub id).

    A path that exists must be a directory; a string that looks like a path but does not exist is
    an error here rather than a confusing hub lookup. ``s3://`` prefixes are resolved to a local
    directory by the caller before an embedder is built.
    """
    if not path_or_id or not path_or_id.strip():
        raise EmbeddingError("no model source given (an empty path or id)")
    if "://" in path_or_id:
        raise EmbeddingError(f"{path_or_id!r}: remote model sources are fetched to a local directory first; "
                             "an embedder loads a local directory or a hub id")
    path = Path(path_or_id).expanduser()
    if path.is_dir():
        return str(path), path
    if path.exists():
        raise EmbeddingError(f"{path_or_id!r} is a file; a model source is a directory holding config.json")
    looks_like_path = path_or_id.startswith((".", "/", "~")) or path_or_id.count("/") > 1 or "\\" in path_or_id
    if looks_like_path or not _HUB_ID.match(path_or_id):
        raise EmbeddingError(f"model directory {path_or_id!r} does not exist")
    return path_or_id, None


def resolve_device(device: str) -> torch.device:
    """"auto" → the GPU when one is visible, else the CPU; an explicit CUDA device must exist."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise EmbeddingError(f"unknown device {device!r} (use auto, cpu, cuda or cuda:N)") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise EmbeddingError(f"device {device!r} was asked for but no CUDA device is visible")
    return resolved


def inference_dtype(device: torch.device) -> torch.dtype:
    """Half precision on the GPU (twice the throughput, ample for cosine ranking), float32 on the CPU
    (CPU fp16 matmuls are slow and inexact)."""
    import torch

    return torch.float16 if device.type == "cuda" else torch.float32


def weights_fingerprint(directory: Path) -> str:
    """SHA-256 over config.json and every weight file (names and bytes), in name order: the same
    weights give the same fingerprint wherever they were copied to, any retrained or swapped
    weights a different one."""
    digest = hashlib.sha256()
    files = sorted(p for p in directory.rglob("*")
                   if p.is_file() and (p.name == "config.json" or p.suffix in _WEIGHT_SUFFIXES))
    if not any(p.suffix in _WEIGHT_SUFFIXES for p in files):
        raise EmbeddingError(f"no weight files (*.safetensors, *.bin) under {directory}")
    for path in files:
        digest.update(path.relative_to(directory).as_posix().encode() + b"\0")
        with path.open("rb") as handle:
            while chunk := handle.read(8 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def default_model_id(path_or_id: str, directory: Path | None) -> str:
    """A hub id is its own identity. A local directory is "<directory name>@<first 12 hex of the
    weights fingerprint>": readable, independent of where the directory lies, and different for
    different weights under the same name."""
    if directory is None:
        return path_or_id
    name = directory.resolve().name or "model"
    return f"{name}@{weights_fingerprint(directory)[:12]}"


def batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def check_batch_size(batch_size: int) -> int:
    if not isinstance(batch_size, int) or batch_size < 1:
        raise EmbeddingError(f"batch_size must be a positive integer, got {batch_size!r}")
    return batch_size


def check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise EmbeddingError("expected a sequence of strings, got one string (wrap it in a list)")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise EmbeddingError(f"text #{i} is {type(text).__name__}, not str")
    return texts
