"""Render a title's report.html from its artifacts (Jinja2, self-contained but for images).

The page sits in the title's folder, so images (contact sheet, keyframes,
thumbnails) are linked by their relative paths and the folder can be browsed or
copied as a whole; the QC timeline is embedded so the page alone tells the story.
The page is a pure function of the artifacts (no clock), so a re-run reproduces it
byte for byte, like every other artifact.
"""

from __future__ import annotations

import base64
import statistics
from dataclasses import dataclass, field
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from prism.qc.events import QcEvent, Severity
from prism.qc.profile import SEVERITY_RANK, QcSummary
from prism.qc.timeline import speaker_colour

_env = Environment(
    loader=PackageLoader("prism.report", "templates"),
    autoescape=select_autoescape(["html", "j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    ms = int(round(seconds * 1000))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h}:{m:02d}:{s:02d}.{ms:03d}" if h else f"{m:02d}:{s:02d}.{ms:03d}"


_env.filters["clock"] = clock
_env.filters["speaker_colour"] = lambda s: "rgb({}, {}, {})".format(*speaker_colour(str(s)))


@dataclass
class ReportInputs:
    """Everything the page shows; each part is optional so a partial title still gets a report."""

    title_id: str
    summary: QcSummary
    events: list[QcEvent]
    timeline_png: bytes
    delivery: dict[str, Any] = field(default_factory=dict)
    probe: dict[str, Any] = field(default_factory=dict)
    shots: list[dict[str, Any]] = field(default_factory=list)
    keyframes: list[dict[str, Any]] = field(default_factory=list)
    loudness: list[dict[str, Any]] = field(default_factory=list)
    transcript: list[dict[str, Any]] = field(default_factory=list)
    onscreen_text: list[dict[str, Any]] = field(default_factory=list)  # onscreen_text.parquet rows
    speakers: dict[str, Any] = field(default_factory=dict)  # speakers.json
    subtitles: dict[str, Any] = field(default_factory=dict)  # subtitle_template.json
    subtitle_events: list[dict[str, Any]] = field(default_factory=list)  # subtitle_events.parquet rows
    dialogue_list: dict[str, Any] = field(default_factory=dict)  # dialogue_list.json
    images: dict[str, str] = field(default_factory=dict)  # label → relative path (contact sheet, sprite)
    artifacts: list[tuple[str, int]] = field(default_factory=list)  # (relative path, bytes)


def render_report(inputs: ReportInputs, *, max_events: int = 200, max_lines: int = 40,
                  max_keyframes: int = 48, max_text: int = 200) -> str:
    events = sorted(inputs.events, key=lambda e: (-SEVERITY_RANK[e.severity], e.start_s, e.check))
    lengths = [s["end_s"] - s["start_s"] for s in inputs.shots]
    transcript_tracks: dict[int, dict[str, Any]] = {}
    for seg in inputs.transcript:
        entry = transcript_tracks.setdefault(int(seg["track"]), {"language": seg.get("language"), "lines": []})
        entry["lines"].append(seg)
    for entry in transcript_tracks.values():
        entry["count"] = len(entry["lines"])
        entry["lines"] = sorted(entry["lines"], key=lambda s: s["start_s"])[:max_lines]
    # The subtitle template of each track, shown beside its raw transcript.
    templates = {int(t["track"]): t for t in inputs.subtitles.get("tracks", []) if isinstance(t, dict)}
    for track, t in templates.items():
        entry = transcript_tracks.setdefault(track, {"language": t.get("language"), "lines": [], "count": 0})
        cues = sorted((e for e in inputs.subtitle_events if int(e["track"]) == track), key=lambda e: e["event"])
        entry["template"] = {**t, "shown": cues[:max_lines]}
    dialogue_rows = list(inputs.dialogue_list.get("rows", []))
    template = _env.get_template("report.html.j2")
    return template.render(
        title_id=inputs.title_id,
        manifest_sha256=(inputs.delivery.get("manifest_sha256") or "")[:12],
        summary=inputs.summary,
        events=events[:max_events],
        events_hidden=max(0, len(events) - max_events),
        timeline_data_uri="data:image/png;base64," + base64.b64encode(inputs.timeline_png).decode(),
        delivery=inputs.delivery,
        manifest=inputs.delivery.get("manifest", {}),
        probe=inputs.probe,
        shot_count=len(inputs.shots),
        median_shot_s=statistics.median(lengths) if lengths else None,
        transitions={t: sum(1 for s in inputs.shots if s.get("transition") == t)
                     for t in ("cut", "gradual")},
        keyframes=inputs.keyframes[:max_keyframes],
        keyframes_hidden=max(0, len(inputs.keyframes) - max_keyframes),
        loudness=inputs.loudness,
        transcript_tracks=dict(sorted(transcript_tracks.items())),
        onscreen_text=sorted(inputs.onscreen_text, key=lambda r: (r["start_s"], r["event_index"]))[:max_text],
        onscreen_count=len(inputs.onscreen_text),
        onscreen_kinds={k: sum(1 for r in inputs.onscreen_text if r["kind"] == k)
                        for k in ("subtitle", "credit", "title", "sign")},
        speaker_tracks=[t for t in inputs.speakers.get("tracks", []) if isinstance(t, dict)],
        subtitles=inputs.subtitles,
        dialogue_rows=dialogue_rows[:max_text],
        dialogue_count=len(dialogue_rows),
        dialogue_timecode=inputs.dialogue_list.get("timecode"),
        images=inputs.images,
        artifacts=inputs.artifacts,
        severities=[s.value for s in Severity],
    )
