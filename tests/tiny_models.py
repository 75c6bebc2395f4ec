"""Tiny random embedding models saved to directories, built offline in well under a second each.

Their weights are random, so their vectors carry no meaning; what they exercise is the real
loading (``from_pretrained`` of the model, tokenizer and image processor), preprocessing,
batching, padding and pooling code of the ``transformers`` backends in ``prism.embeddings``.

- ``build_tiny_clip``: a ``CLIPModel`` (image and text towers, projection) with a BPE tokenizer.
- ``build_tiny_siglip``: a ``SiglipModel`` with a word-level fast tokenizer that pads with ``</s>``
  as SigLIP's does (the real one needs sentencepiece, which is not installed here).
- ``build_tiny_siglip2``: a ``Siglip2Model`` (variable-resolution patches, NaFlex image processor).
- ``build_tiny_vit``: an image-only ``ViTModel`` (no text tower).
- ``build_tiny_sentence_model``: a ``BertModel`` laid out as a sentence-transformers checkpoint
  (``modules.json``, ``1_Pooling/config.json``, optionally a ``2_Dense`` projection).
"""

from __future__ import annotations

import contextlib
import json
import string
from collections.abc import Iterator
from pathlib import Path

WORDS = ["a", "the", "photo", "of", "cat", "dog", "car", "road", "shot", "scene", "night", "day", "select",
         "from", "drop", "table", "where", "or"]


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Tiny configs trip transformers' warnings about default special-token ids; keep the log clean."""
    from transformers.utils import logging

    before = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        yield
    finally:
        logging.set_verbosity(before)


@_quiet_transformers()
def build_tiny_clip(directory: Path, *, image_size: int = 32, max_positions: int = 24, seed: int = 0) -> Path:
    import torch
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPProcessor, CLIPTokenizer

    torch.manual_seed(seed)
    # No merges: every word is split into characters, the last one carrying the "</w>" suffix.
    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    tokens = ["<|startoftext|>", "<|endoftext|>", "<unk>"] + chars + [c + "</w>" for c in chars]
    vocab = {t: i for i, t in enumerate(tokens)}
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], unk_token="<unk>", pad_token="<|endoftext|>",
                              bos_token="<|startoftext|>", eos_token="<|endoftext|>",
                              model_max_length=max_positions)
    config = CLIPConfig(
        text_config={
            "vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
            "num_attention_heads": 2, "max_position_embeddings": max_positions,
            "bos_token_id": vocab["<|startoftext|>"], "eos_token_id": vocab["<|endoftext|>"],
            "pad_token_id": vocab["<|endoftext|>"],
        },
        vision_config={
            "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
            "image_size": image_size, "patch_size": 8,
        },
        projection_dim=16,
    )
    model = CLIPModel(config).eval()
    image_processor = CLIPImageProcessorPil(size={"shortest_edge": image_size},
                                            crop_size={"height": image_size, "width": image_size})
    model.save_pretrained(directory)
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(directory)
    return Path(directory)


def _word_level_tokenizer(*, pad: str, eos: str | None, cls: str | None, sep: str | None, max_length: int):
    """A lower-casing, whitespace/punctuation-splitting word-level fast tokenizer built in memory."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    specials = [t for t in (pad, "<unk>", eos, cls, sep) if t is not None]
    specials = list(dict.fromkeys(specials))
    vocab = {t: i for i, t in enumerate(specials + WORDS + list(string.ascii_lowercase + string.punctuation))}
    backend = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    if cls and sep:
        backend.post_processor = processors.TemplateProcessing(
            single=f"{cls} $A {sep}", special_tokens=[(cls, vocab[cls]), (sep, vocab[sep])])
    elif eos:
        backend.post_processor = processors.TemplateProcessing(single=f"$A {eos}",
                                                               special_tokens=[(eos, vocab[eos])])
    kwargs = {"unk_token": "<unk>", "pad_token": pad}
    if eos:
        kwargs["eos_token"] = eos
    if cls and sep:
        kwargs.update(cls_token=cls, sep_token=sep)
    return PreTrainedTokenizerFast(tokenizer_object=backend, model_max_length=max_length, **kwargs), vocab


def _siglip_text_config(vocab: dict[str, int], max_positions: int) -> dict:
    """SigLIP and SigLIP 2 share the text tower: pads with "</s>", its end-of-sequence token."""
    return {
        "vocab_size": len(vocab), "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
        "num_attention_heads": 2, "max_position_embeddings": max_positions, "pad_token_id": vocab["</s>"],
        "eos_token_id": vocab["</s>"], "bos_token_id": vocab["<unk>"], "projection_size": 32,
    }


@_quiet_transformers()
def build_tiny_siglip(directory: Path, *, image_size: int = 32, max_positions: int = 16) -> Path:
    import torch
    from transformers import SiglipConfig, SiglipImageProcessorPil, SiglipModel

    torch.manual_seed(1)
    # SigLIP pads with "</s>" (which is also its end-of-sequence token) up to its fixed length.
    tokenizer, vocab = _word_level_tokenizer(pad="</s>", eos="</s>", cls=None, sep=None,
                                             max_length=max_positions)
    config = SiglipConfig(
        text_config=_siglip_text_config(vocab, max_positions),
        vision_config={
            "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
            "image_size": image_size, "patch_size": 8,
        },
    )
    model = SiglipModel(config).eval()
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    SiglipImageProcessorPil(size={"height": image_size, "width": image_size}).save_pretrained(directory)
    return Path(directory)


@_quiet_transformers()
def build_tiny_siglip2(directory: Path, *, max_positions: int = 16) -> Path:
    """SigLIP 2 (NaFlex: variable resolution, patches plus an attention mask and spatial shapes).
    transformers loads the tokenizer as its ``Siglip2Tokenizer`` (Gemma-style: it lower-cases and
    marks spaces with "▁", so this word-level vocabulary sees characters; fine for random weights)."""
    import torch
    from transformers import Siglip2Config, Siglip2ImageProcessorPil, Siglip2Model

    torch.manual_seed(4)
    tokenizer, vocab = _word_level_tokenizer(pad="</s>", eos="</s>", cls=None, sep=None,
                                             max_length=max_positions)
    config = Siglip2Config(
        text_config=_siglip_text_config(vocab, max_positions),
        vision_config={
            "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
            "num_patches": 16, "patch_size": 8,
        },
    )
    Siglip2Model(config).eval().save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    Siglip2ImageProcessorPil(patch_size=8, max_num_patches=16).save_pretrained(directory)
    return Path(directory)


@_quiet_transformers()
def build_tiny_vit(directory: Path, *, image_size: int = 32) -> Path:
    import torch
    from transformers import ViTConfig, ViTImageProcessorPil, ViTModel

    torch.manual_seed(2)
    config = ViTConfig(hidden_size=24, intermediate_size=48, num_hidden_layers=1, num_attention_heads=2,
                       image_size=image_size, patch_size=8)
    ViTModel(config).eval().save_pretrained(directory)
    ViTImageProcessorPil(size={"height": image_size, "width": image_size}).save_pretrained(directory)
    return Path(directory)


@_quiet_transformers()
def build_tiny_sentence_model(directory: Path, *, pooling: str = "mean", dense_out: int | None = None,
                              max_seq_length: int = 32) -> Path:
    """``pooling``: "mean", "cls", "max" or "none" (no ``1_Pooling`` folder: the embedder's default).
    ``dense_out``: add a sentence-transformers ``2_Dense`` projection (tanh) to that many dimensions."""
    import torch
    from safetensors.torch import save_file
    from transformers import BertConfig, BertModel

    torch.manual_seed(3)
    directory = Path(directory)
    tokenizer, vocab = _word_level_tokenizer(pad="[PAD]", eos=None, cls="[CLS]", sep="[SEP]", max_length=512)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                        num_attention_heads=2, max_position_embeddings=64, pad_token_id=vocab["[PAD]"])
    BertModel(config).eval().save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}]
    (directory / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": max_seq_length}))
    if pooling != "none":
        (directory / "1_Pooling").mkdir()
        (directory / "1_Pooling" / "config.json").write_text(json.dumps({
            "word_embedding_dimension": 32, "pooling_mode_cls_token": pooling == "cls",
            "pooling_mode_mean_tokens": pooling == "mean", "pooling_mode_max_tokens": pooling == "max",
            "pooling_mode_mean_sqrt_len_tokens": False}))
        modules.append({"idx": 1, "name": "1", "path": "1_Pooling",
                        "type": "sentence_transformers.models.Pooling"})
    if dense_out is not None:
        dense = directory / "2_Dense"
        dense.mkdir()
        (dense / "config.json").write_text(json.dumps({
            "in_features": 32, "out_features": dense_out, "bias": True,
            "activation_function": "torch.nn.modules.activation.Tanh"}))
        weights = {"linear.weight": torch.randn(dense_out, 32) * 0.2,
                   "linear.bias": torch.randn(dense_out) * 0.1}
        save_file(weights, str(dense / "model.safetensors"))
        modules.append({"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"})
    modules.append({"idx": len(modules), "name": str(len(modules)), "path": "3_Normalize",
                    "type": "sentence_transformers.models.Normalize"})
    (directory / "modules.json").write_text(json.dumps(modules))
    return directory
