"""QC profiles: how a title's findings turn into a pass/fail verdict.

Domain detectors assign a default severity to each finding; a profile may
re-grade whole checks (a broadcast deliverable treats loudness drift as an
error, a streaming one as a warning) and says which severity fails a title.
"""

from __future__ import annotations

from collections import Counter
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from prism.qc.events import QcEvent, Severity

SEVERITY_RANK = {Severity.info: 0, Severity.warning: 1, Severity.error: 2}


class QcProfile(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    description: str = ""
    fail_on: Severity = Severity.error
    overrides: dict[str, Severity] = Field(
        default_factory=dict, description="check name → severity every finding of that check gets"
    )

    def grade(self, event: QcEvent) -> QcEvent:
        severity = self.overrides.get(event.check)
        return event if severity is None else event.model_copy(update={"severity": severity})

    def fails(self, event: QcEvent) -> bool:
        return SEVERITY_RANK[event.severity] >= SEVERITY_RANK[self.fail_on]


PROFILES: dict[str, QcProfile] = {
    p.name: p
    for p in (
        QcProfile(name="streaming", description="Streaming delivery: errors fail the title."),
        QcProfile(
            name="broadcast",
            description="Broadcast deliverable: loudness and photosensitive flashes are hard limits.",
            overrides={
                "loudness_integrated": Severity.error,
                "true_peak": Severity.error,
                "flash": Severity.error,
            },
        ),
        QcProfile(name="strict", description="Any warning fails the title; burned-in subtitles are an error.",
                  fail_on=Severity.warning, overrides={"burned_in_subtitles": Severity.error}),
    )
}


def get_profile(name: str) -> QcProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown QC profile {name!r}; known: {', '.join(sorted(PROFILES))}") from None


class QcSummary(BaseModel):
    """qc_summary.json (artifact contract v1)."""

    status: Literal["pass", "fail"]
    profile: str
    counts: dict[str, int] = Field(description="findings per severity (info, warning, error)")
    checks: dict[str, dict[str, int]] = Field(description="findings per check, per severity")
    failing: list[str] = Field(description="checks whose findings fail the title under the profile")
    flagged_s: dict[str, float] = Field(description="seconds of the title covered by each check's findings")
    duration_s: float


def summarize(events: list[QcEvent], profile: QcProfile, duration_s: float) -> tuple[list[QcEvent], QcSummary]:
    """Grade the findings with the profile and summarize them; returns (graded events, summary)."""
    graded = [profile.grade(e) for e in events]
    counts = Counter(e.severity.value for e in graded)
    per_check: dict[str, Counter] = {}
    for e in graded:
        per_check.setdefault(e.check, Counter())[e.severity.value] += 1
    failing = sorted({e.check for e in graded if profile.fails(e)})
    summary = QcSummary(
        status="fail" if failing else "pass",
        profile=profile.name,
        counts={s.value: counts.get(s.value, 0) for s in Severity},
        checks={check: dict(c) for check, c in sorted(per_check.items())},
        failing=failing,
        flagged_s={check: round(_covered(graded, check), 3) for check in sorted(per_check)},
        duration_s=duration_s,
    )
    return graded, summary


def _covered(events: list[QcEvent], check: str) -> float:
    """Length of the union of a check's time ranges (overlapping tracks counted once)."""
    spans = sorted((e.start_s, e.end_s) for e in events if e.check == check)
    total, cur_start, cur_end = 0.0, None, None
    for start, end in spans:
        if cur_end is None or start > cur_end:
            if cur_end is not None:
                total += cur_end - cur_start
            cur_start, cur_end = start, end
        else:
            cur_end = max(cur_end, end)
    if cur_end is not None:
        total += cur_end - cur_start
    return total
