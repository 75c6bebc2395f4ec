"""What the template could not fix, as QC findings (the shared QC event schema).

Speech faster than the reading speed allows cannot be timed away: the event already runs from the
first frame of speech to as late as the rules let it. Each such event is a ``subtitle_reading_speed``
warning (value: characters per second); editors condense the line in translation.
"""

from __future__ import annotations

from collections.abc import Sequence

from prism.qc.events import QcEvent, Severity
from prism.subtitles.template import SubtitleTemplate

READING_SPEED = "subtitle_reading_speed"


def subtitle_findings(templates: Sequence[SubtitleTemplate]) -> list[QcEvent]:
    events = []
    for t in templates:
        for row in t.remaining:
            if row.rule != "reading_speed":
                continue
            e = t.events[row.event]
            events.append(QcEvent(
                check=READING_SPEED, track=t.track, start_s=e.start_s, end_s=max(e.end_s, e.start_s),
                severity=Severity.warning, value=row.value,
                message=f"subtitle event {row.event + 1} needs {row.value:.1f} characters per second "
                        f"(limit {row.limit:g}, style {t.profile.label}): speech faster than reading speed "
                        f"allows; condense the line"))
    return events
