"""QC findings from a title's on-screen text.

- ``burned_in_subtitles`` (warning; an error under the ``strict`` profile): subtitle-like text
  covers more than ``max_speech_share`` of the speech time. Burned-in subtitles in a delivery
  are usually a defect (the clean version was expected). With no speech detected, the share is
  of the title's duration.
- ``text_outside_title_safe`` (info): a line reaches outside the title-safe area (the centre
  90% of the width and height, SMPTE ST 2046-1), where some displays crop it.
"""

from __future__ import annotations

from collections.abc import Sequence

from prism.qc.events import QcEvent, Severity

BURNED_IN = "burned_in_subtitles"
TITLE_SAFE = "text_outside_title_safe"


def _union(spans: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _length(spans: Sequence[tuple[float, float]]) -> float:
    return sum(end - start for start, end in spans)


def _intersection(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    total, i, j = 0.0, 0, 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        total += max(0.0, hi - lo)
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return total


def onscreen_text_findings(text_rows: Sequence[dict], speech_rows: Sequence[dict], duration_s: float, *,
                           max_speech_share: float = 0.3, safe_margin: float = 0.05) -> list[QcEvent]:
    """QC events from ``onscreen_text.parquet`` rows and ``speech.parquet`` rows."""
    events: list[QcEvent] = []
    subtitles = [r for r in text_rows if r["kind"] == "subtitle"]
    speech = _union([(r["start_s"], r["end_s"]) for r in speech_rows if r.get("kind", "speech") == "speech"])
    shown = _union([(r["start_s"], r["end_s"]) for r in subtitles])
    if shown:
        base = _length(speech) if speech else duration_s
        covered = _intersection(shown, speech) if speech else _length(shown)
        share = covered / base if base > 0 else 0.0
        if share > max_speech_share:
            of = "speech time" if speech else "the title (no speech detected)"
            events.append(QcEvent(
                check=BURNED_IN, start_s=shown[0][0], end_s=shown[-1][1], severity=Severity.warning,
                value=round(share, 4),
                message=f"subtitle-like text on screen for {share:.0%} of {of} ({len(subtitles)} lines, "
                f"limit {max_speech_share:.0%}): burned-in subtitles?"))
    lo, hi = safe_margin, 1.0 - safe_margin
    for r in text_rows:
        outside = max(lo - r["x"], lo - r["y"], r["x"] + r["w"] - hi, r["y"] + r["h"] - hi)
        if outside > 0:
            events.append(QcEvent(
                check=TITLE_SAFE, start_s=r["start_s"], end_s=r["end_s"], severity=Severity.info,
                value=round(outside, 4),
                message=f"{r['kind']} text {r['text'][:40]!r} reaches {outside:.1%} outside the "
                "title-safe area"))
    return events
