"""The template as files: WebVTT, SubRip and IMSC 1.1 Text Profile TTML, plus the conformance table.

Times are the events' frame times in seconds to the millisecond (a frame at 23.976 lasts 41.7 ms, so
a millisecond clock keeps every cue on its frame). TTML carries the frame rate too
(``ttp:frameRate`` + ``ttp:frameRateMultiplier``) so tools that count frames get the title's rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

import pyarrow as pa

from prism.subtitles.template import SubtitleEvent, SubtitleTemplate

IMSC11_TEXT = "http://www.w3.org/ns/ttml/profile/imsc1.1/text"

CONFORMANCE_SCHEMA = pa.schema([
    pa.field("track", pa.int32(), nullable=False),
    pa.field("language", pa.string()),
    pa.field("event", pa.int32(), nullable=False),
    pa.field("rule", pa.string(), nullable=False),
    pa.field("value", pa.float64()),
    pa.field("limit", pa.float64()),
    pa.field("fixed", pa.bool_(), nullable=False),
    pa.field("start_s", pa.float64()),
    pa.field("end_s", pa.float64()),
])


def _clock(seconds: float, sep: str = ".") -> str:
    ms = int(round(max(seconds, 0.0) * 1000))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _vtt_text(event: SubtitleEvent) -> str:
    lines = [escape(line) for line in event.lines]
    if not event.dialogue and event.speakers and event.speakers[0]:
        return f"<v {event.speakers[0]}>" + "\n".join(lines) + "</v>"
    if event.dialogue:
        return "\n".join(f"<v {s}>{line}</v>" if s else line for s, line in zip(event.speakers, lines,
                                                                                strict=True))
    return "\n".join(lines)


def to_vtt(template: SubtitleTemplate) -> str:
    head = (f"WEBVTT\n\nNOTE subtitle template, style {template.profile.label}, "
            f"{template.clock.rate}, language {template.language or 'und'}\n")
    cues = [f"{e.index + 1}\n{_clock(e.start_s)} --> {_clock(e.end_s)}\n{_vtt_text(e)}\n"
            for e in template.events]
    return "\n".join([head, *cues])


def to_srt(template: SubtitleTemplate) -> str:
    return "\n".join(f"{e.index + 1}\n{_clock(e.start_s, ',')} --> {_clock(e.end_s, ',')}\n{e.text}\n"
                     for e in template.events)


def to_ttml(template: SubtitleTemplate, title: str | None = None) -> str:
    """An IMSC 1.1 Text Profile document: one region at the bottom, one style, a ``p`` per event."""
    rate = template.clock.rate
    lang = template.language or "und"
    multiplier = ' ttp:frameRateMultiplier="1000 1001"' if rate.fps.denominator == 1001 else ""
    desc = f"style {template.profile.label}; {rate}; track {template.track}"
    agents = sorted({s for e in template.events for s in e.speakers if s})
    meta = [f"      <ttm:title>{escape(title or 'subtitle template')}</ttm:title>",
            f"      <ttm:desc>{escape(desc)}</ttm:desc>"]
    meta += [f'      <ttm:agent xml:id="speaker_{a}" type="character">'
             f'<ttm:name type="alias">{escape(a)}</ttm:name></ttm:agent>' for a in agents]
    body = []
    for e in template.events:
        agent = (f' ttm:agent="{" ".join(f"speaker_{s}" for s in e.speakers if s)}"'
                 if any(e.speakers) else "")
        text = "<br/>".join(escape(line) for line in e.lines)
        body.append(f'      <p xml:id="e{e.index + 1}" begin="{_clock(e.start_s)}" end="{_clock(e.end_s)}"'
                    f'{agent}>{text}</p>')
    return "\n".join([
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<tt xmlns="http://www.w3.org/ns/ttml" xmlns:ttp="http://www.w3.org/ns/ttml#parameter"',
        '    xmlns:tts="http://www.w3.org/ns/ttml#styling" xmlns:ttm="http://www.w3.org/ns/ttml#metadata"',
        f'    xml:lang={quoteattr(lang)} ttp:contentProfiles="{IMSC11_TEXT}" ttp:timeBase="media"',
        f'    ttp:frameRate="{rate.timebase}"{multiplier}>',
        "  <head>",
        "    <metadata>",
        *meta,
        "    </metadata>",
        "    <styling>",
        '      <style xml:id="default" tts:fontFamily="proportionalSansSerif" tts:fontSize="100%"'
        ' tts:lineHeight="125%" tts:color="white" tts:textAlign="center" tts:textOutline="black 5%"/>',
        "    </styling>",
        "    <layout>",
        '      <region xml:id="bottom" tts:origin="10% 10%" tts:extent="80% 80%" tts:displayAlign="after"/>',
        "    </layout>",
        "  </head>",
        '  <body region="bottom" style="default">',
        "    <div>",
        *body,
        "    </div>",
        "  </body>",
        "</tt>",
        "",
    ])


def conformance_table(templates: Sequence[SubtitleTemplate]) -> pa.Table:
    rows = []
    for t in templates:
        for r in t.conformance:
            e = t.events[r.event]
            rows.append({"track": t.track, "language": t.language, "event": r.event, "rule": r.rule,
                         "value": r.value, "limit": r.limit, "fixed": r.fixed,
                         "start_s": e.start_s, "end_s": e.end_s})
    return pa.Table.from_pylist(rows, schema=CONFORMANCE_SCHEMA)
