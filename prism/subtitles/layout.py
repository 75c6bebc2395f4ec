"""Line breaking under a language's rules: the fewest lines that fit, broken where a reader expects.

A break is good after sentence or clause punctuation and before a word that opens a clause (or, in
Korean, after an eojeol ending in a particle); it is never right after an article, preposition or
determiner (the profile's ``no_break_after``) while any other break fits; among the rest, the
lines are balanced.
"""

from __future__ import annotations

from collections.abc import Sequence

from prism.subtitles.profile import LanguageRules

SENTENCE_END = (".", "?", "!", "…", "。", "？", "！", "♪")
CLAUSE_END = (",", ";", ":", "—", "–", "，", "、")
_STRIP = "\"'“”‘’()[]«»¿¡"

# Penalties and rewards of one break (comparable with a character of imbalance).
_FORBIDDEN = 1000.0
_AFTER_SENTENCE = -30.0
_AFTER_CLAUSE = -18.0
_BEFORE_OPENER = -10.0
_AFTER_ENDING = -4.0


def bare(word: str) -> str:
    """A word without surrounding quotes and punctuation, lower case (for list look-ups)."""
    return word.strip(_STRIP).rstrip(".,;:!?…").lower()


def line_width(text: str, rules: LanguageRules) -> float:
    return rules.text_width(text)


def break_cost(before: str, after: str, rules: LanguageRules) -> float:
    """How good a line break between two words is (lower is better; >= _FORBIDDEN: never)."""
    cost = 0.0
    tail = before.rstrip(_STRIP)
    if tail.endswith(SENTENCE_END):
        cost += _AFTER_SENTENCE
    elif tail.endswith(CLAUSE_END):
        cost += _AFTER_CLAUSE
    elif bare(before) in rules.no_break_after:
        cost += _FORBIDDEN
    elif rules.break_after_endings and bare(before).endswith(rules.break_after_endings):
        cost += _AFTER_ENDING
    if bare(after) in rules.clause_openers:
        cost += _BEFORE_OPENER
    return cost


def fits(words: Sequence[str], rules: LanguageRules, max_lines: int) -> bool:
    return break_lines(words, rules, max_lines) is not None


def break_lines(words: Sequence[str], rules: LanguageRules, max_lines: int = 2) -> list[str] | None:
    """The words laid out in at most ``max_lines`` lines of the language's width, or None.

    One line when it fits; otherwise the best two-line break (``max_lines`` > 2 is not used by
    any profile and falls back to greedy filling)."""
    laid = lay_out(words, rules, max_lines)
    return None if laid is None else laid[0]


def forbidden(cost: float) -> bool:
    """Whether a layout's cost includes a break no reader should meet (after an article…)."""
    return cost >= _FORBIDDEN / 2


def lay_out(words: Sequence[str], rules: LanguageRules, max_lines: int = 2) -> tuple[list[str], float] | None:
    """``break_lines`` with the cost of the break it chose (0 for one line)."""
    words = [w for w in words if w]
    if not words:
        return [""], 0.0
    limit = rules.max_chars_per_line
    one = " ".join(words)
    if line_width(one, rules) <= limit:
        return [one], 0.0
    if max_lines < 2:
        return None
    if max_lines == 2:
        best, best_cost = None, float("inf")
        for k in range(1, len(words)):
            top, bottom = " ".join(words[:k]), " ".join(words[k:])
            wt, wb = line_width(top, rules), line_width(bottom, rules)
            if wt > limit or wb > limit:
                continue
            # Balance in characters; a slightly longer bottom line (a pyramid) reads best.
            cost = abs(wt - wb) + (0.5 if wt > wb else 0.0) + break_cost(words[k - 1], words[k], rules)
            if cost < best_cost:
                best, best_cost = [top, bottom], cost
        return None if best is None else (best, best_cost)
    lines, current = [], ""
    for w in words:
        candidate = f"{current} {w}".strip()
        if line_width(candidate, rules) <= limit:
            current = candidate
        else:
            if not current or line_width(w, rules) > limit:
                return None
            lines.append(current)
            current = w
    lines.append(current)
    return (lines, 0.0) if len(lines) <= max_lines else None
