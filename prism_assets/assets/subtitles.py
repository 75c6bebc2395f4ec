"""Localization deliverables: the subtitle template and the dialogue list.

    transcript (words, speakers) + shots + frame times ── subtitle_template ─┬─ dialogue_list
                                              onscreen_text ─────────────────┘

``subtitle_template`` cuts every track's words into events under the style profile
(``PRISM_SUBTITLE_STYLE``), times them to the speech and the cuts and writes
``subtitles.<lang>.vtt/.srt/.ttml``, ``subtitle_events.parquet``, ``subtitle_conformance.parquet``,
``subtitle_template.json`` and the findings it could not fix (``qc_subtitles.parquet``, merged by
``qc``). ``dialogue_list`` turns the events into the list vendors work from (CSV, XLSX, JSON).
"""

from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue, asset

from prism.qc.events import events_table as qc_events_table
from prism.settings import get_settings
from prism.subtitles.artifacts import (
    cut_frames,
    events_from,
    events_table,
    title_clock,
    title_rate,
    words_by_track,
)
from prism.subtitles.dialogue import dialogue_rows, to_csv, to_json, to_xlsx
from prism.subtitles.profile import ProfileError, load_profile
from prism.subtitles.qc import subtitle_findings
from prism.subtitles.template import build_template
from prism.subtitles.writers import conformance_table, to_srt, to_ttml, to_vtt
from prism_assets.assets.audio import transcript
from prism_assets.assets.inputs import require_artifacts
from prism_assets.assets.visual import (
    ONSCREEN_TEXT,
    PASS_SUMMARY,
    SHOTS,
    SIGNALS,
    frame_signals,
    onscreen_text,
    shots,
)
from prism_assets.partitions import title_of, titles
from resources import ArtifactStorage

EVENTS = "subtitle_events.parquet"
CONFORMANCE = "subtitle_conformance.parquet"
SUMMARY = "subtitle_template.json"
QC_FINDINGS = "qc_subtitles.parquet"
DIALOGUE_LIST = ("dialogue_list.json", "dialogue_list.csv", "dialogue_list.xlsx")


def subtitle_stems(languages: list[tuple[int, str]]) -> dict[int, str]:
    """``subtitles.<lang>`` per track; a language on several tracks gets ``<lang>-track<N>`` after
    the first, so no file is overwritten."""
    names, seen = {}, set()
    for track, lang in languages:
        names[track] = f"subtitles.{lang}" if lang not in seen else f"subtitles.{lang}-track{track}"
        seen.add(lang)
    return names


@asset(
    partitions_def=titles,
    # Not on onscreen_text: the template needs only words, cuts and frame times, so it need not
    # wait for OCR (the dialogue list does).
    deps=[transcript, shots, frame_signals],
    group_name="localization",
    code_version="subtitle-template-1",
    kinds={"webvtt", "ttml", "parquet"},
    description="The subtitle template of every track with speech: events cut from the word timings "
    "(one speaker, or two with leading dashes), laid out and timed under the PRISM_SUBTITLE_STYLE "
    "profile at the title's real frame times (in-cue on speech, cuts snapped, gaps chained); "
    "subtitles.<lang>.vtt/.srt/.ttml (IMSC 1.1 Text), subtitle_events.parquet, "
    "subtitle_conformance.parquet (rule violations and whether timing fixed them), and a QC warning "
    "per event whose speech is faster than the reading speed allows (qc_subtitles.parquet).",
)
def subtitle_template(context: AssetExecutionContext, storage: ArtifactStorage) -> MaterializeResult:
    title_id = title_of(context)
    store = storage.store()
    require_artifacts(store, title_id, ("transcript.parquet", "transcript"), ("probe.json", "source_probe"))
    try:
        profile = load_profile(get_settings().subtitle_style)
    except ProfileError as exc:
        raise Failure(f"title {title_id}: {exc}") from None
    probe = store.read_json(title_id, "probe.json")
    has_video = bool(probe.get("video"))
    if has_video:
        require_artifacts(store, title_id, (SHOTS, "shots"), (PASS_SUMMARY, "frame_signals"))
    visual_pass = store.read_json(title_id, PASS_SUMMARY) if has_video else {}
    # Variable frame rate: the frames' own presentation times (one column, not the RGB proxies).
    vfr = has_video and bool(probe["video"].get("vfr")) and store.exists(title_id, SIGNALS)
    times = store.read_table(title_id, SIGNALS, columns=["time_s"])["time_s"].to_pylist() if vfr else None
    clock = title_clock(probe, visual_pass, times)
    cuts = cut_frames(store.read_table(title_id, SHOTS).to_pylist() if has_video else [], profile)
    templates = [build_template(track, language, words, clock, cuts, profile)
                 for track, (language, words) in sorted(words_by_track(
                     store.read_table(title_id, "transcript.parquet").to_pylist()).items()) if words]

    stems = subtitle_stems([(t.track, t.language or "und") for t in templates])
    written = set()
    for t in templates:
        stem = stems[t.track]
        store.write_text(title_id, f"{stem}.vtt", to_vtt(t))
        store.write_text(title_id, f"{stem}.srt", to_srt(t))
        store.write_text(title_id, f"{stem}.ttml", to_ttml(t, title=title_id))
        written |= {f"{stem}.vtt", f"{stem}.srt", f"{stem}.ttml"}
    store.write_table(title_id, QC_FINDINGS, qc_events_table(subtitle_findings(templates)))
    store.write_table(title_id, CONFORMANCE, conformance_table(templates))
    store.write_table(title_id, EVENTS, events_table(templates))
    summary = {
        "style": profile.name, "style_version": profile.version, "style_source": profile.source,
        "frame_rate": float(clock.rate.fps), "timecode": str(clock.rate), "vfr": times is not None,
        "cuts": len(cuts),
        "tracks": [{"track": t.track, "language": t.language, "events": len(t.events),
                    "conformance_rate": round(t.conformance_rate, 4),
                    "violations_left": len(t.remaining),
                    "fixed": sum(r.fixed for r in t.conformance),
                    "files": [f"{stems[t.track]}.{x}" for x in ("vtt", "srt", "ttml")]} for t in templates],
    }
    store.write_json(title_id, SUMMARY, summary)
    store.remove_stale(title_id, keep=written, prefixes=("subtitles.",))
    events = sum(len(t.events) for t in templates)
    clean = sum(t.conformance_rate * len(t.events) for t in templates)
    return MaterializeResult(metadata={
        "events": events, "style": profile.label, "frame_rate": str(clock.rate),
        "conformance_rate": round(clean / events, 4) if events else 1.0,
        "violations_fixed": sum(r.fixed for t in templates for r in t.conformance),
        "violations_left": sum(len(t.remaining) for t in templates),
        "reading_speed_warnings": sum(r.rule == "reading_speed" for t in templates for r in t.remaining),
        "files": ", ".join(sorted(written)) or "none",
        "summary": MetadataValue.json(summary["tracks"]),
    })


@asset(
    partitions_def=titles,
    deps=[subtitle_template, onscreen_text],
    group_name="localization",
    code_version="dialogue-list-1",
    kinds={"csv", "xlsx", "json"},
    description="The dialogue list: one row per subtitle event per track with in/out SMPTE timecode "
    "(drop-frame at 29.97/59.94), source (speaker), dialogue, burned-in subtitles and other on-screen "
    "text during the event, annotations (music markers, a line in another script's language, words "
    "Whisper heard with low confidence); dialogue_list.csv, .xlsx (a sheet per track), .json.",
)
def dialogue_list(context: AssetExecutionContext, storage: ArtifactStorage) -> MaterializeResult:
    title_id = title_of(context)
    store = storage.store()
    require_artifacts(store, title_id, (EVENTS, "subtitle_template"), ("probe.json", "source_probe"))
    rate = title_rate(store.read_json(title_id, "probe.json"))
    tracks = events_from(store.read_table(title_id, EVENTS).to_pylist())
    onscreen = (store.read_table(title_id, ONSCREEN_TEXT).to_pylist()
                if store.exists(title_id, ONSCREEN_TEXT) else [])
    summary = store.read_json(title_id, SUMMARY) if store.exists(title_id, SUMMARY) else {}
    rows = dialogue_rows(tracks, rate, onscreen)
    store.write_bytes(title_id, "dialogue_list.csv", to_csv(rows))
    store.write_bytes(title_id, "dialogue_list.xlsx", to_xlsx(rows, [(t, lang) for t, lang, _ in tracks]))
    store.write_text(title_id, "dialogue_list.json",
                     to_json(rows, title_id=title_id, rate=rate, style=summary.get("style", "")))
    return MaterializeResult(metadata={
        "rows": len(rows), "timecode": str(rate), "tracks": len(tracks),
        "with_onscreen_text": sum(bool(r.onscreen_text or r.burned_in_subtitle) for r in rows),
        "annotated": sum(bool(r.annotations) for r in rows),
        "dialogue_list": MetadataValue.path(store.uri_of(title_id, "dialogue_list.xlsx")),
    })


SUBTITLE_ASSETS = [subtitle_template, dialogue_list]
