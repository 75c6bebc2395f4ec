"""Language tags as deliveries, containers and Whisper write them, made comparable."""

from __future__ import annotations

# ISO 639-2 (bibliographic and terminology) → ISO 639-1, for the languages Whisper knows
# that deliveries carry most; tags already in 639-1 (or BCP 47 like 'pt-BR') pass through.
_ISO639_2_TO_1 = {
    "eng": "en", "kor": "ko", "jpn": "ja", "zho": "zh", "chi": "zh", "fra": "fr", "fre": "fr",
    "deu": "de", "ger": "de", "spa": "es", "por": "pt", "ita": "it", "rus": "ru", "ara": "ar",
    "hin": "hi", "tha": "th", "vie": "vi", "ind": "id", "msa": "ms", "may": "ms", "tur": "tr",
    "pol": "pl", "nld": "nl", "dut": "nl", "swe": "sv", "nor": "no", "nob": "no", "dan": "da",
    "fin": "fi", "ces": "cs", "cze": "cs", "ell": "el", "gre": "el", "heb": "he", "hun": "hu",
    "ron": "ro", "rum": "ro", "ukr": "uk", "tgl": "tl", "fil": "tl", "yue": "yue", "cat": "ca",
}


def normalize_language(tag: str | None) -> str | None:
    """A comparable primary language code ('eng' → 'en', 'pt-BR' → 'pt'); None for unknown."""
    if not tag:
        return None
    primary = tag.strip().lower().replace("_", "-").split("-")[0]
    if primary in ("", "und", "unk", "mul", "zxx", "mis"):
        return None
    return _ISO639_2_TO_1.get(primary, primary)
