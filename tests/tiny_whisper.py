"""A tiny random multilingual Whisper saved to a directory, built offline in well under a second.

Its weights are random, so its text is meaningless; what it exercises is the real
loading (``from_pretrained``), feature extraction, batching, language forcing and
timestamp decoding code of the ``transformers`` backend.
"""

from __future__ import annotations

from pathlib import Path

LANGUAGES = ["en", "ko", "fr", "de"]


def build_tiny_whisper(directory: Path, alignment_heads: list[list[int]] | None = None) -> Path:
    """``alignment_heads``: the cross-attention heads a checkpoint names for word timing
    (real Whisper checkpoints carry them; left out, the model has none)."""
    import torch
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizer,
    )

    torch.manual_seed(0)
    words = ["Ġhello", "Ġworld", "Ġprism", "Ġtest", "Ġspeech", "Ġtitle"] + list("abcdefghijklmnopqrstuvwxyz")
    vocab = {w: i for i, w in enumerate(words)}
    specials = (["<|endoftext|>", "<|startoftranscript|>"] + [f"<|{lang}|>" for lang in LANGUAGES]
                + ["<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>",
                   "<|notimestamps|>"])
    tokenizer = WhisperTokenizer(vocab=vocab, merges=[])
    tokenizer.add_special_tokens({"additional_special_tokens": specials[1:]})
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in specials}
    timestamps = [f"<|{i * 0.02:.2f}|>" for i in range(1501)]
    tokenizer.add_tokens(timestamps)
    vocab_size = len(tokenizer)

    config = WhisperConfig(
        vocab_size=vocab_size, num_mel_bins=80, d_model=32, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
        max_source_positions=1500, max_target_positions=64,
        pad_token_id=ids["<|endoftext|>"], bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|endoftext|>"],
        decoder_start_token_id=ids["<|startoftranscript|>"], begin_suppress_tokens=None, suppress_tokens=None,
        tie_word_embeddings=False,
    )
    model = WhisperForConditionalGeneration(config).eval()
    with torch.no_grad():
        # Near-uniform random logits hand the 1501 timestamp tokens nearly all the probability
        # mass, so Whisper's timestamp rule would emit timestamps alone. Larger output
        # embeddings for the text tokens give decoding runs of several text tokens between
        # timestamps, as real speech does: segments with several words to time.
        model.proj_out.weight[: len(vocab)] *= 60.0
    model.generation_config = GenerationConfig(
        decoder_start_token_id=ids["<|startoftranscript|>"], eos_token_id=ids["<|endoftext|>"],
        pad_token_id=ids["<|endoftext|>"], bos_token_id=ids["<|endoftext|>"],
        no_timestamps_token_id=ids["<|notimestamps|>"], is_multilingual=True,
        lang_to_id={f"<|{lang}|>": ids[f"<|{lang}|>"] for lang in LANGUAGES},
        task_to_id={"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
        max_initial_timestamp_index=50, max_length=24, return_timestamps=False,
    )
    if alignment_heads is not None:
        model.generation_config.alignment_heads = alignment_heads
    processor = WhisperProcessor(WhisperFeatureExtractor(feature_size=80), tokenizer)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return Path(directory)
