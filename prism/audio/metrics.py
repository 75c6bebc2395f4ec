"""Transcript accuracy: word error rate against a known reference (tests, benchmarks, spot checks)."""

from __future__ import annotations

import re


def words_of(text: str) -> list[str]:
    """Lower-cased words without punctuation: what WER compares."""
    return re.findall(r"[a-z0-9']+", text.lower())


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / reference words, by Levenshtein over words."""
    ref, hyp = words_of(reference), words_of(hypothesis)
    d = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, d[0] = d[0], i
        for j, h in enumerate(hyp, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (r != h))
    return d[len(hyp)] / max(1, len(ref))
