"""Content QC for the whole title: merge the domains' findings, grade them, report, publish.

``qc`` reads the visual and audio findings (``qc_visual.parquet``,
``qc_audio.parquet``), grades them with the configured QC profile and writes
``qc.parquet`` + ``qc_summary.json``; ``report`` draws the QC timeline and writes
``report.html``; ``title_bundle`` publishes the derived results for the backend.
"""

import statistics

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from prism.audio.artifacts import loudness_track_entries
from prism.audio.qc import LOUDNESS_SPECS
from prism.export import ExportRefused, publish_bundle, select_exportable
from prism.ocr.qc import onscreen_text_findings
from prism.qc.events import events_table, read_events
from prism.qc.profile import QcSummary, summarize
from prism.qc.timeline import LoudnessCurve, SpeakerTurn, render_timeline
from prism.report import ReportInputs, render_report
from prism.storage import ArtifactStore
from prism_assets.assets.inputs import require_artifacts
from prism_assets.partitions import title_of, titles
from resources import ArtifactStorage, AudioQcPolicy, BundleExport, QcPolicy

DOMAIN_FINDINGS = (("qc_visual.parquet", "visual_qc"), ("qc_audio.parquet", "audio_qc"))
# What the subtitle template could not fix (reading speed); absent on titles processed before it.
SUBTITLE_FINDINGS = "qc_subtitles.parquet"
ONSCREEN_TEXT = "onscreen_text.parquet"
SPEECH = "speech.parquet"
CONTENT_QC = "content_qc"


def _table(store: ArtifactStore, title_id: str, relpath: str) -> list[dict]:
    if not store.exists(title_id, relpath):
        return []
    return store.read_table(title_id, relpath).to_pylist()


def _json(store: ArtifactStore, title_id: str, relpath: str) -> dict:
    return store.read_json(title_id, relpath) if store.exists(title_id, relpath) else {}


@asset(
    partitions_def=titles,
    deps=["visual_qc", "audio_qc", "onscreen_text", "subtitle_template"],
    group_name="qc",
    code_version="qc-3",  # 3: the subtitle template's reading-speed warnings
    kinds={"parquet", "json"},
    check_specs=[
        AssetCheckSpec(CONTENT_QC, asset="qc", description="The title passes its QC profile (a content "
                       "verdict for people, not a pipeline failure: the bundle still carries it).")
    ],
    description="All QC findings of the title graded by the QC profile: qc.parquet + qc_summary.json "
    "(the domains' findings plus burned-in subtitles and text outside the title-safe area).",
)
def qc(context: AssetExecutionContext, storage: ArtifactStorage, qc_policy: QcPolicy) -> MaterializeResult:
    title_id = title_of(context)
    store = storage.store()
    require_artifacts(store, title_id, *DOMAIN_FINDINGS)
    events = [e for f, _ in DOMAIN_FINDINGS for e in read_events(store.read_bytes(title_id, f))]
    if store.exists(title_id, SUBTITLE_FINDINGS):
        events += read_events(store.read_bytes(title_id, SUBTITLE_FINDINGS))
    profile = qc_policy.qc_profile()
    duration = float(_json(store, title_id, "probe.json").get("duration_s") or 0.0)
    # On-screen text against the speech (burned-in subtitles) and the title-safe area.
    events += onscreen_text_findings(_table(store, title_id, ONSCREEN_TEXT), _table(store, title_id, SPEECH),
                                     duration, max_speech_share=qc_policy.burned_in_share)
    graded, summary = summarize(events, profile, duration)

    store.write_table(title_id, "qc.parquet", events_table(graded))
    store.write_json(title_id, "qc_summary.json", summary.model_dump(mode="json"))

    passed = summary.status == "pass"
    check = AssetCheckResult(
        check_name=CONTENT_QC, passed=passed,
        severity=AssetCheckSeverity.WARN,
        description=None if passed else f"failing checks: {', '.join(summary.failing)}",
        metadata={"profile": profile.name, **{f"{k}_findings": v for k, v in summary.counts.items()}},
    )
    return MaterializeResult(
        metadata={
            "status": summary.status,
            "profile": profile.name,
            "failing_checks": ", ".join(summary.failing) or "none",
            **{f"{k}_findings": v for k, v in summary.counts.items()},
            "qc_summary": MetadataValue.json(summary.model_dump(mode="json")),
        },
        check_results=[check],
    )


@asset(
    partitions_def=titles,
    deps=[qc, "shots", "keyframes", "loudness", "transcript", "speakers", "voices", "onscreen_text",
          "subtitle_template", "dialogue_list"],
    group_name="qc",
    code_version="report-4",  # 2: speakers lane and table; 3: on-screen text lane and table; 4: subtitles
    kinds={"html", "png"},
    description="report.html: QC verdict and timeline picture (with a speakers lane per track and an "
    "on-screen text lane), shots and keyframes, loudness, speakers, transcript beside the subtitle "
    "template, the dialogue list, on-screen text.",
)
def report(context: AssetExecutionContext, storage: ArtifactStorage, audio_qc_policy: AudioQcPolicy
           ) -> MaterializeResult:
    title_id = title_of(context)
    store = storage.store()
    summary = QcSummary.model_validate(store.read_json(title_id, "qc_summary.json"))
    events = read_events(store.read_bytes(title_id, "qc.parquet"))
    probe = _json(store, title_id, "probe.json")
    shots = _table(store, title_id, "shots.parquet")
    onscreen = _table(store, title_id, ONSCREEN_TEXT) if store.exists(title_id, ONSCREEN_TEXT) else None
    loudness = _json(store, title_id, "loudness.json")
    tracks = loudness_track_entries(loudness)
    curves = [curve for t in tracks if (curve := LoudnessCurve.of_track(t)) is not None]
    timeline = render_timeline(
        summary.duration_s, events,
        shot_starts_s=[s["start_s"] for s in shots],
        loudness=curves,
        # The delivery spec audio QC checked against, so the curve reads against the same line.
        loudness_target_lufs=LOUDNESS_SPECS[audio_qc_policy.loudness_spec].target_lufs if curves else None,
        onscreen_text=None if onscreen is None else [(r["start_s"], r["end_s"], r["kind"]) for r in onscreen],
        speakers=[SpeakerTurn(r["track"], r["start_s"], r["end_s"], r["speaker"])
                  for r in _table(store, title_id, "speakers.parquet")],
    )
    store.write_bytes(title_id, "qc_timeline.png", timeline)
    files = store.list_files(title_id)
    sprites = sorted(f for f in files if f.startswith("thumbnails/") and f.endswith(".jpg"))
    images = {"contact sheet": "contact_sheet.jpg"} if "contact_sheet.jpg" in files else {}
    if sprites:  # the first scrubbing sprite sheet (thumbnails.vtt addresses tiles inside it)
        images["thumbnail sprite (first sheet)"] = sprites[0]
    html = render_report(ReportInputs(
        title_id=title_id, summary=summary, events=events, timeline_png=timeline,
        delivery=_json(store, title_id, "delivery.json"), probe=probe, shots=shots,
        keyframes=_table(store, title_id, "keyframes.parquet"),
        loudness=tracks, transcript=_table(store, title_id, "transcript.parquet"), images=images,
        onscreen_text=onscreen or [],
        speakers=_json(store, title_id, "speakers.json"),
        subtitles=_json(store, title_id, "subtitle_template.json"),
        subtitle_events=_table(store, title_id, "subtitle_events.parquet"),
        dialogue_list=_json(store, title_id, "dialogue_list.json"),
        # Only what the bundle carries, so every link also works in the export.
        artifacts=[(f, store.path(title_id, f).stat().st_size) for f in select_exportable(files)
                   if not f.startswith("keyframes/") and f != "report.html"],
    ))
    store.write_text(title_id, "report.html", html)
    lengths = [s["end_s"] - s["start_s"] for s in shots]
    return MaterializeResult(metadata={
        "report": MetadataValue.path(store.uri_of(title_id, "report.html")),
        "qc_timeline": MetadataValue.path(store.uri_of(title_id, "qc_timeline.png")),
        "qc_status": summary.status,
        "shots": len(shots),
        "median_shot_s": round(statistics.median(lengths), 3) if lengths else 0.0,
    })


@asset(
    partitions_def=titles,
    deps=[report, "vectors"],
    group_name="export",
    code_version="bundle-1",
    kinds={"s3", "json"},
    description="Publishes the title's derived results (never media) with a checksummed bundle.json, "
    "written last, to the export location.",
)
def title_bundle(context: AssetExecutionContext, storage: ArtifactStorage, export: BundleExport
                 ) -> MaterializeResult:
    title_id = title_of(context)
    target = export.target()
    try:
        manifest = publish_bundle(storage.store(), title_id, target)
    except ExportRefused as exc:
        raise Failure(str(exc)) from None
    return MaterializeResult(metadata={
        "files": len(manifest.files),
        "bytes": sum(f.bytes for f in manifest.files),
        "schema_version": manifest.schema_version,
        "bundle": MetadataValue.path(str(target.dir(title_id) / "bundle.json")),
        "qc_status": manifest.qc.get("status") or "unknown",
    })
