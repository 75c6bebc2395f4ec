"""The dialogue list: one row per subtitle event per track, as localization vendors work from it.

Columns follow a major streamer's dialogue-list style: in and out SMPTE timecode (drop-frame at
29.97 and 59.94), the source (speaker, in capitals), the dialogue, burned-in subtitles and other
on-screen text showing during the event, and annotations:

- ``music``: Whisper's own music markers in the line (♪, [music]); Prism has no music detector;
- ``language: <code>``: the line is written in another script than the track's language
  (Hangul on an English track, Latin on a Korean one);
- ``inaudible``: words Whisper heard with a probability below ``INAUDIBLE_PROBABILITY``.

Written as CSV (UTF-8 with BOM so spreadsheet programs read Hangul), XLSX (one sheet per track,
frozen header) and JSON; the three carry the same rows.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from prism.subtitles.template import SubtitleEvent
from prism.subtitles.timecode import FrameRate

INAUDIBLE_PROBABILITY = 0.4
_MUSIC = re.compile(r"♪|♫|\[(music|singing)\]|\((music|singing)\)", re.IGNORECASE)
_SCRIPT_LANG = {"Hang": "ko", "Latn": "en", "Hani": "zh", "Jpan": "ja"}

COLUMNS = ("track", "event", "in_tc", "out_tc", "start_s", "end_s", "speaker", "dialogue",
           "burned_in_subtitle", "onscreen_text", "annotations", "language")
HEADERS = {"track": "Track", "event": "Event", "in_tc": "In-TC", "out_tc": "Out-TC", "start_s": "Start (s)",
           "end_s": "End (s)", "speaker": "Source", "dialogue": "Dialogue",
           "burned_in_subtitle": "Burned-in subtitle", "onscreen_text": "On-screen text",
           "annotations": "Annotations", "language": "Language"}


@dataclass(frozen=True)
class DialogueRow:
    track: int
    event: int
    in_tc: str
    out_tc: str
    start_s: float
    end_s: float
    speaker: str
    dialogue: str
    burned_in_subtitle: str
    onscreen_text: str
    annotations: str
    language: str


def script_of(text: str) -> str | None:
    """The main script of a text (Hangul, Latin, Han, Kana), by letter count."""
    counts = {"Hang": 0, "Latn": 0, "Hani": 0, "Jpan": 0}
    for ch in text:
        o = ord(ch)
        if 0xAC00 <= o <= 0xD7A3 or 0x1100 <= o <= 0x11FF or 0x3130 <= o <= 0x318F:
            counts["Hang"] += 1
        elif ch.isascii() and ch.isalpha() or 0xC0 <= o <= 0x24F:
            counts["Latn"] += 1
        elif 0x4E00 <= o <= 0x9FFF:
            counts["Hani"] += 1
        elif 0x3040 <= o <= 0x30FF:
            counts["Jpan"] += 1
    script, n = max(counts.items(), key=lambda kv: kv[1])
    return script if n else None


def _track_script(language: str | None) -> str | None:
    lang = (language or "").lower().split("-")[0]
    return {"ko": "Hang", "kor": "Hang", "zh": "Hani", "ja": "Jpan"}.get(lang, "Latn" if lang else None)


def annotations_of(event: SubtitleEvent, language: str | None) -> list[str]:
    notes = []
    text = " ".join(event.lines)
    if _MUSIC.search(text):
        notes.append("music")
    own = _track_script(language)
    for line in event.lines:  # line by line: a two-speaker event may switch language
        script = script_of(line)
        note = f"language: {_SCRIPT_LANG.get(script, script)}"
        if script and own and script != own and note not in notes:
            notes.append(note)
    unsure = [w.text.strip(".,;:!?…\"'“”") for w in event.words
              if w.probability is not None and w.probability < INAUDIBLE_PROBABILITY]
    if unsure:
        notes.append("inaudible: " + " ".join(unsure))
    return notes


def _speaker(event: SubtitleEvent) -> str:
    return " / ".join((s or "UNKNOWN").upper() for s in event.speakers)


def _overlapping(onscreen: Sequence[dict], start_s: float, end_s: float, subtitles: bool) -> str:
    texts = []
    for r in onscreen:
        if r["start_s"] < end_s and r["end_s"] > start_s and (r["kind"] == "subtitle") == subtitles:
            label = r["text"] if subtitles else f"{r['text']} [{r['kind']}]"
            if label not in texts:
                texts.append(label)
    return " | ".join(texts)


def dialogue_rows(tracks: Sequence[tuple[int, str | None, Sequence[SubtitleEvent]]], rate: FrameRate,
                  onscreen: Sequence[dict] = ()) -> list[DialogueRow]:
    """Rows of ``(track, language, events)`` in track and event order; timecode at ``rate``."""
    rows = []
    for track, language, events in tracks:
        for e in events:
            dialogue = "\n".join(e.lines) if e.dialogue else " ".join(e.lines)
            rows.append(DialogueRow(
                track=track, event=e.index + 1,
                in_tc=rate.timecode_at(e.start_s), out_tc=rate.timecode_at(e.end_s),
                start_s=e.start_s, end_s=e.end_s, speaker=_speaker(e), dialogue=dialogue,
                burned_in_subtitle=_overlapping(onscreen, e.start_s, e.end_s, True),
                onscreen_text=_overlapping(onscreen, e.start_s, e.end_s, False),
                annotations="; ".join(annotations_of(e, language)), language=language or "und"))
    return rows


def to_json(rows: Sequence[DialogueRow], *, title_id: str, rate: FrameRate, style: str) -> str:
    return json.dumps({
        "title_id": title_id, "frame_rate": float(rate.fps), "timecode": str(rate),
        "drop_frame": rate.drop_frame, "style": style, "columns": list(COLUMNS),
        "rows": [asdict(r) for r in rows],
    }, ensure_ascii=False, indent=1)


def to_csv(rows: Sequence[DialogueRow]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in rows:
        writer.writerow([getattr(r, c) for c in COLUMNS])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def to_xlsx(rows: Sequence[DialogueRow], tracks: Sequence[tuple[int, str | None]]) -> bytes:
    """One sheet per track (``Track 1 (en)``: track ordinals from 0 shown from 1), header frozen."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    book = Workbook()
    book.remove(book.active)
    widths = {"dialogue": 60, "burned_in_subtitle": 40, "onscreen_text": 40, "annotations": 30,
              "in_tc": 13, "out_tc": 13, "speaker": 12}
    for track, language in tracks or [(0, None)]:
        sheet = book.create_sheet(f"Track {track + 1} ({language or 'und'})"[:31])
        sheet.append([HEADERS[c] for c in COLUMNS])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for r in rows:
            if r.track == track:
                sheet.append([getattr(r, c) for c in COLUMNS])
        for i, c in enumerate(COLUMNS):
            letter = sheet.cell(row=1, column=i + 1).column_letter
            sheet.column_dimensions[letter].width = widths.get(c, 10)
            if c in ("dialogue", "burned_in_subtitle", "onscreen_text"):
                for cell in sheet[letter][1:]:
                    cell.alignment = Alignment(wrap_text=True, vertical="top")
        sheet.freeze_panes = "A2"
    buf = io.BytesIO()
    book.save(buf)
    return _without_clock(buf.getvalue())


_XLSX_TIME = re.compile(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)")


def _without_clock(xlsx: bytes) -> bytes:
    """The workbook with fixed dates (document properties, zip entries): a re-run of the title
    reproduces it byte for byte, like every other artifact."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(xlsx)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = _XLSX_TIME.sub(rb"\g<1>2000-01-01T00:00:00Z\g<2>", data)
            dst.writestr(zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0)), data,
                         compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()
