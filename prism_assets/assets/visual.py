"""Visual assets: one streaming decode (``frame_signals``) → ``shots`` → ``keyframes`` → ``onscreen_text``;
``visual_qc``.

Analysis lives in ``prism.visual``; this module reads inputs, calls it, publishes
artifacts atomically and reports metadata and checks.
"""

import math
import shutil
import tempfile
import time
from contextlib import ExitStack
from io import BytesIO
from pathlib import Path

import numpy as np
import pyarrow as pa
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
from PIL import Image

from prism.ocr.tesseract import TesseractUnavailable
from prism.ocr.video import OcrVideoError, captured_samples, plan_samples, read_onscreen_text
from prism.ocr.video import events_table as onscreen_text_table
from prism.qc.events import events_table
from prism.settings import get_settings
from prism.storage import ArtifactStore
from prism.visual.captures import CaptureOptions, decode_jpeg, iter_captures
from prism.visual.decode import PASS_VERSION, VisualDecodeError, read_scalars, scalar_arrays
from prism.visual.keyframes import (
    KEYFRAMES_SCHEMA,
    KeyframeError,
    audit_keyframes,
    contact_sheet,
    extract_frames,
    frame_scores,
    select_keyframes,
    timecode,
)
from prism.visual.qc import QC_SIGNAL_COLUMNS, visual_qc_events
from prism.visual.segments import run_pass_segmented
from prism.visual.shots import batches_from_parquet, shots_table, tiling_problems
from prism.visual.sprites import SPRITE_DIR, VTT_NAME
from prism_assets.assets.inputs import require_artifacts
from prism_assets.assets.source import source_probe
from prism_assets.compute import gpu_step_if, shot_detector_needs_gpu, uses_models, video_decoder_needs_gpu
from prism_assets.partitions import title_of, titles
from resources import ArtifactStorage, MediaReader, OnscreenTextModel, VisualAnalysis
from resources.models import OCR, SHOT_DETECTOR

SIGNALS = "frame_signals.parquet"
PASS_SUMMARY = "visual_pass.json"
SHOTS = "shots.parquet"
KEYFRAMES = "keyframes.parquet"
KEYFRAME_CANDIDATES = "keyframe_candidates.parquet"
TEXT_SAMPLES = "text_samples.parquet"
KEYFRAME_JPEG_QUALITY = 90  # keyframes extracted by seeking; the pass's captures use the same
KEYFRAME_DIR = "keyframes"
CONTACT_SHEET = "contact_sheet.jpg"
QC_VISUAL = "qc_visual.parquet"
ONSCREEN_TEXT = "onscreen_text.parquet"
CONTACT_SHEET_MAX_TILES = 120

SHOTS_TILE = "shots_tile_duration"
EVERY_SHOT_HAS_KEYFRAME = "every_shot_has_keyframe"
KEYFRAMES_INSIDE_SHOTS = "keyframes_inside_shots"
KEYFRAME_IMAGES_DECODE = "keyframe_images_decode"


# -- helpers ----------------------------------------------------------------
def _video_title(store: ArtifactStore, title_id: str) -> tuple[str, dict]:
    """The media location and probe of a title that has decodable video (else a clear Failure)."""
    require_artifacts(store, title_id, ("delivery.json", "delivery"), ("probe.json", "source_probe"))
    probe = store.read_json(title_id, "probe.json")
    video = probe.get("video")
    if not video or not video.get("decodable"):
        reason = (video or {}).get("decode_error") or "no video stream (audio-only delivery)"
        raise Failure(f"title {title_id}: no decodable video: {reason}")
    return store.read_json(title_id, "delivery.json")["media_location"], probe


def _publish_dir(store: ArtifactStore, title_id: str, directory: str, files: dict[str, Path]) -> None:
    """Publish ``files`` (name -> local file) as the whole of ``directory``."""
    store.publish_files(title_id, {f"{directory}/{name}": local for name, local in files.items()},
                        replace_prefixes=(directory + "/",))


def _table_md(rows: list[dict], columns: list[str], limit: int = 10) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in rows[:limit]:
        cells = [f"{r[c]:.3f}" if isinstance(r[c], float) else str(r[c]) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    if len(rows) > limit:
        lines.append(f"| … {len(rows) - limit} more | " + " | " * (len(columns) - 1))
    return "\n".join(lines)


# -- frame_signals -----------------------------------------------------------
@asset(
    partitions_def=titles,
    deps=[source_probe],
    group_name="visual",
    code_version=f"visual-pass-{PASS_VERSION}",
    kinds={"pyav", "parquet"},
    description="The one streaming decode of the title's video: per-frame signals keyed by "
    "presentation time plus 48x27 RGB frames (frame_signals.parquet), the thumbnail sprite "
    "sheets + WebVTT thumbnails track, and full-resolution captures from the same frames: keyframe "
    "candidates (keyframe_candidates.parquet) and on-screen text samples every PRISM_OCR_INTERVAL_S "
    "(text_samples.parquet). Decoded in software or on NVDEC (PRISM_VISUAL_DECODER).",
    **gpu_step_if(video_decoder_needs_gpu(get_settings().visual_decoder)),
)
def frame_signals(context: AssetExecutionContext, storage: ArtifactStorage, media: MediaReader,
                  visual: VisualAnalysis) -> MaterializeResult:
    title_id = title_of(context)
    store = storage.store()
    location, probe = _video_title(store, title_id)
    rotation = int(probe["video"].get("rotation") or 0)
    work = Path(tempfile.mkdtemp(prefix="prism-visual-"))
    try:
        signals_local, sprite_dir = work / SIGNALS, work / SPRITE_DIR
        capture = CaptureOptions(keyframe_candidates=work / KEYFRAME_CANDIDATES,
                                 text_samples=work / TEXT_SAMPLES,
                                 sample_interval_s=visual.text_sample_interval_s,
                                 jpeg_quality=KEYFRAME_JPEG_QUALITY)
        started = time.perf_counter()
        try:
            summary, vtt = run_pass_segmented(
                media.opener(location), signals_local, sprite_dir, segments=visual.segments,
                duration_s=probe["video"].get("duration_s") or probe.get("duration_s"), rotation=rotation,
                thumbnail_interval_s=visual.thumbnail_interval_s, thumbnail_width=visual.thumbnail_width,
                skip_loop_filter=visual.skip_loop_filter, capture=capture, decoder=visual.decoder)
        except VisualDecodeError as exc:
            raise Failure(f"title {title_id}: {exc}", metadata={"media_location": location}) from None
        elapsed = time.perf_counter() - started
        if summary.decoder_note:
            context.log.warning(f"title {title_id}: {summary.decoder_note}")
        # Sprites and captures first, the signals (what downstream reads) last.
        _publish_dir(store, title_id, SPRITE_DIR, {n: sprite_dir / n for n in summary.sprite_sheets})
        store.write_text(title_id, VTT_NAME, vtt)
        for name in (KEYFRAME_CANDIDATES, TEXT_SAMPLES):
            with store.staged_file(title_id, name) as staged:
                shutil.copyfile(work / name, staged)
        store.write_json(title_id, PASS_SUMMARY, {**summary.__dict__, "pass_version": PASS_VERSION})
        with store.staged_file(title_id, SIGNALS) as staged:
            shutil.copyfile(signals_local, staged)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return MaterializeResult(metadata={
        "frames": summary.frame_count,
        "duration_s": summary.duration_s,
        "mean_fps": summary.mean_fps,
        "decode_seconds": round(elapsed, 2),
        "skip_loop_filter": visual.skip_loop_filter,
        "decoder": summary.decoder,
        "segments": summary.segments,
        **({"decoder_note": summary.decoder_note} if summary.decoder_note else {}),
        "speed_x_realtime": round(summary.duration_s / max(elapsed, 1e-9), 1),
        "thumbnails": summary.thumbnails,
        "sprite_sheets": len(summary.sprite_sheets),
        "keyframe_candidates": summary.captures["keyframe_candidates"],
        "text_samples": summary.captures["text_samples"],
        "capture_mb": round(summary.captures["capture_bytes"] / 1e6, 1),
        "frame_signals": MetadataValue.path(store.uri_of(title_id, SIGNALS)),
        "thumbnails_vtt": MetadataValue.path(store.uri_of(title_id, VTT_NAME)),
    })


# -- shots --------------------------------------------------------------------
@asset(
    partitions_def=titles,
    deps=[frame_signals],
    group_name="visual",
    code_version="shots-3",
    kinds={"parquet"},
    check_specs=[AssetCheckSpec(SHOTS_TILE, asset="shots", blocking=True,
                                description="Shots tile the title from 0 to its duration, "
                                "with no gap or overlap.")],
    description="Shot boundaries (shots.parquet): hard cuts frame-exact, fades and dissolves as "
    "'gradual'. Detector by configuration (PRISM_SHOT_DETECTOR): cpu (default) | transnetv2.",
    **uses_models(SHOT_DETECTOR, step=gpu_step_if(shot_detector_needs_gpu(get_settings().shot_detector))),
)
def shots(context: AssetExecutionContext, storage: ArtifactStorage,
          visual: VisualAnalysis) -> MaterializeResult:
    title_id = title_of(context)
    store = storage.store()
    require_artifacts(store, title_id, (SIGNALS, "frame_signals"))
    summary = store.read_json(title_id, PASS_SUMMARY)
    detector = visual.detector()
    with store.local_copy(title_id, SIGNALS) as signals_path:
        boundaries = detector.detect(batches_from_parquet(signals_path), summary["mean_fps"])
        scalars = read_scalars(signals_path, ["time_s", "black_ratio"])
    table = shots_table(boundaries, scalars["time_s"], summary["duration_s"], scalars["black_ratio"])
    problems = tiling_problems(table, summary["frame_count"], summary["duration_s"])
    store.write_table(title_id, SHOTS, table)

    rows = table.to_pylist()
    lengths = [r["end_s"] - r["start_s"] for r in rows]
    check = AssetCheckResult(
        check_name=SHOTS_TILE, passed=not problems,
        severity=AssetCheckSeverity.ERROR,
        description="; ".join(problems) if problems else f"{len(rows)} shots tile 0-{summary['duration_s']}s",
    )
    return MaterializeResult(
        metadata={
            "detector": detector.name,
            "shot_count": len(rows),
            "cuts": sum(r["transition"] == "cut" for r in rows),
            "gradual": sum(r["transition"] == "gradual" for r in rows),
            "black_shots": sum(r["black"] for r in rows),
            "median_shot_s": round(float(np.median(lengths)), 3),
            "preview": MetadataValue.md(_table_md(
                rows, ["shot_index", "start_frame", "end_frame", "start_s", "end_s", "transition", "black"])),
            "shots_parquet": MetadataValue.path(store.uri_of(title_id, SHOTS)),
        },
        check_results=[check],
    )


# -- keyframes ---------------------------------------------------------------
@asset(
    partitions_def=titles,
    deps=[shots],
    group_name="visual",
    code_version="keyframes-2",
    kinds={"pyav", "jpeg", "parquet"},
    check_specs=[
        AssetCheckSpec(EVERY_SHOT_HAS_KEYFRAME, asset="keyframes", blocking=True,
                       description="Every shot has at least one keyframe."),
        AssetCheckSpec(KEYFRAMES_INSIDE_SHOTS, asset="keyframes", blocking=True,
                       description="Every keyframe's time lies inside its shot."),
        AssetCheckSpec(KEYFRAME_IMAGES_DECODE, asset="keyframes", blocking=True,
                       description="Every keyframe image exists in storage and decodes."),
    ],
    description="Per shot, the sharpest still frame(s) outside transitions (one per started "
    "PRISM_KEYFRAME_EVERY_S seconds) at full resolution, taken from the candidates the decode pass "
    "captured (seeking only where it captured none): keyframes/*.jpg, keyframes.parquet and a contact sheet.",
)
def keyframes(context: AssetExecutionContext, storage: ArtifactStorage, media: MediaReader,
              visual: VisualAnalysis) -> MaterializeResult:
    title_id = title_of(context)
    store = storage.store()
    location, probe = _video_title(store, title_id)
    require_artifacts(store, title_id, (SHOTS, "shots"), (SIGNALS, "frame_signals"),
                      (KEYFRAME_CANDIDATES, "frame_signals"))
    summary = store.read_json(title_id, PASS_SUMMARY)
    rotation = int(summary.get("rotation") or 0)
    shot_rows = store.read_table(title_id, SHOTS).to_pylist()
    # Only the scalar columns: on S3 a few ranged reads, not the frames' RGB proxies.
    sig = scalar_arrays(store.read_table(title_id, SIGNALS, columns=["time_s", "sharpness", "motion",
                                                                     "black_ratio"]))
    scores = frame_scores(sig["sharpness"], sig["motion"], sig["black_ratio"])
    # The frames the decode pass captured (their index only: the images are fetched below).
    candidate_frames = store.read_table(title_id, KEYFRAME_CANDIDATES, columns=["frame_index"]).column(0)
    captured = np.zeros(len(scores), bool)
    captured[[f for f in candidate_frames.to_pylist() if 0 <= f < len(scores)]] = True
    choices = select_keyframes(shot_rows, sig["time_s"], scores, every_s=visual.keyframe_every_s,
                               captured=captured)

    work = Path(tempfile.mkdtemp(prefix="prism-keyframes-"))
    rows, files, tiles = [], {}, []
    sheet_every = max(1, math.ceil(len(shot_rows) / CONTACT_SHEET_MAX_TILES))
    by_frame = {c.frame_index: c for c in choices}

    def add(c, image: Image.Image | None, jpeg: bytes | None, width: int, height: int) -> None:
        name = f"shot{c.shot_index:05d}_f{c.frame_index:07d}.jpg"
        if jpeg is not None:  # the pass's capture, published as it is (no second encode)
            (work / name).write_bytes(jpeg)
        else:
            image.save(work / name, quality=KEYFRAME_JPEG_QUALITY)
        files[name] = work / name
        rows.append({"shot_index": c.shot_index, "frame_index": c.frame_index, "time_s": c.time_s,
                     "path": f"{KEYFRAME_DIR}/{name}", "width": width, "height": height, "rank": c.rank,
                     "score": c.score})
        if c.rank == 0 and c.shot_index % sheet_every == 0:
            thumb = (image if image is not None else Image.open(BytesIO(jpeg))).convert("RGB")
            thumb.thumbnail((240, 240))
            tiles.append((c.shot_index, f"#{c.shot_index} {timecode(c.time_s)}", thumb))

    sought = [c for c in choices if not c.captured]
    try:
        wanted = {c.frame_index for c in choices if c.captured}
        if wanted:
            with store.local_copy(title_id, KEYFRAME_CANDIDATES) as candidates_path:
                for row in iter_captures(candidates_path, wanted):
                    add(by_frame[row["frame_index"]], None, row["jpeg"], row["width"], row["height"])
        if sought:
            try:
                with media.open(location) as source:
                    for frame_index, image in extract_frames(
                            source, [(c.frame_index, c.time_s) for c in sought], rotation=rotation):
                        add(by_frame[frame_index], image, None, image.width, image.height)
            except KeyframeError as exc:
                raise Failure(f"title {title_id}: {exc}") from None
        rows.sort(key=lambda r: (r["shot_index"], r["frame_index"]))
        tiles.sort(key=lambda t: t[0])
        _publish_dir(store, title_id, KEYFRAME_DIR, files)
        if tiles:
            with store.staged_file(title_id, CONTACT_SHEET) as staged:
                contact_sheet([(label, im) for _, label, im in tiles]).save(staged, quality=85)
        store.write_table(title_id, KEYFRAMES, pa.Table.from_pylist(rows, schema=KEYFRAMES_SCHEMA))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    # Checks, on what was published.
    audit = audit_keyframes(rows, shot_rows, lambda path: store.read_bytes(title_id, path))
    missing, outside, broken = audit.shots_without_keyframe, audit.outside_their_shot, audit.unreadable
    checks = [
        AssetCheckResult(check_name=EVERY_SHOT_HAS_KEYFRAME, passed=not missing,
                         description=f"shots without a keyframe: {missing[:20]}" if missing else
                         f"all {len(shot_rows)} shots have keyframes"),
        AssetCheckResult(check_name=KEYFRAMES_INSIDE_SHOTS, passed=not outside,
                         description=f"keyframes outside their shot: {outside[:10]}" if outside else
                         "every keyframe lies inside its shot"),
        AssetCheckResult(check_name=KEYFRAME_IMAGES_DECODE, passed=not broken,
                         description=f"unreadable keyframe images: {broken[:10]}" if broken else
                         f"{len(rows)} images decode"),
    ]
    metadata = {
        "keyframes": len(rows),
        "shots": len(shot_rows),
        "from_pass": len(rows) - len(sought),
        "by_seeking": len(sought),
        "image_size": f"{rows[0]['width']}x{rows[0]['height']}" if rows else "",
        "keyframes_parquet": MetadataValue.path(store.uri_of(title_id, KEYFRAMES)),
        "preview": MetadataValue.md(_table_md(rows, ["shot_index", "frame_index", "time_s", "rank", "path"])),
    }
    if tiles:
        metadata["contact_sheet"] = MetadataValue.path(store.uri_of(title_id, CONTACT_SHEET))
    return MaterializeResult(metadata=metadata, check_results=checks)


# -- onscreen_text -------------------------------------------------------------
@asset(
    partitions_def=titles,
    deps=[shots, keyframes],
    group_name="visual",
    code_version="onscreen-text-2",
    kinds={"pyav", "onnx", "parquet"},
    description="On-screen text (onscreen_text.parquet): the frames the decode pass sampled every "
    "PRISM_OCR_INTERVAL_S seconds and at shot starts, plus the keyframes (no second decode: only short "
    "windows around event boundaries are decoded, to time them to the frame), text "
    "detected (PP-OCR) and read by script (PP-OCR for Latin, Tesseract for Korean), tracked into events "
    "with frame-exact bounds, each a subtitle, credit, title or sign.",
    **uses_models(OCR),
)
def onscreen_text(context: AssetExecutionContext, storage: ArtifactStorage, media: MediaReader,
                  onscreen_text_model: OnscreenTextModel) -> MaterializeResult:
    title_id = title_of(context)
    store = storage.store()
    location, _ = _video_title(store, title_id)
    require_artifacts(store, title_id, (SIGNALS, "frame_signals"), (SHOTS, "shots"), (KEYFRAMES, "keyframes"),
                      (TEXT_SAMPLES, "frame_signals"))
    summary = store.read_json(title_id, PASS_SUMMARY)
    shot_rows = store.read_table(title_id, SHOTS).to_pylist()
    keyframe_rows = store.read_table(title_id, KEYFRAMES, columns=["frame_index", "path"]).to_pylist()
    sig = scalar_arrays(store.read_table(title_id, SIGNALS, columns=["time_s", "key_frame"]))
    times = sig["time_s"]
    captures = store.read_table(title_id, TEXT_SAMPLES, columns=["frame_index", "reason"])
    plan = plan_samples(captures, shot_rows, len(times), keyframes=[r["frame_index"] for r in keyframe_rows])
    keyframe_path = {r["frame_index"]: r["path"] for r in keyframe_rows}
    try:
        detector, reader = onscreen_text_model.detector(), onscreen_text_model.reader()
    except TesseractUnavailable as exc:
        raise Failure(f"title {title_id}: on-screen text cannot be read: {exc}") from None
    started = time.perf_counter()
    try:
        # Every decode gets its own handle (a local path, or a fresh S3 file object: two
        # containers must never share one file position); all are closed at the end.
        with ExitStack() as handles:
            def open_source():
                return handles.enter_context(media.open(location))

            def keyframe_image(frame_index: int) -> np.ndarray:  # already display-oriented
                return decode_jpeg(store.read_bytes(title_id, keyframe_path[frame_index]))

            samples_path = handles.enter_context(store.local_copy(title_id, TEXT_SAMPLES))
            result = read_onscreen_text(open_source, times, shot_rows,
                                        captured_samples(plan, samples_path, keyframe_image),
                                        detector=detector, reader=reader,
                                        rotation=int(summary.get("rotation") or 0), key_frames=sig["key_frame"],
                                        options=onscreen_text_model.options(), total=len(plan))
    except OcrVideoError as exc:
        raise Failure(f"title {title_id}: {exc}", metadata={"media_location": location}) from None
    elapsed = time.perf_counter() - started
    table = onscreen_text_table(result.events, times, result.width or 1, result.height or 1,
                                duration_s=summary["duration_s"])
    store.write_table(title_id, ONSCREEN_TEXT, table)
    rows = table.to_pylist()
    kinds = {k: sum(r["kind"] == k for r in rows) for k in ("subtitle", "credit", "title", "sign")}
    return MaterializeResult(metadata={
        "events": len(rows),
        **{f"{k}_events": v for k, v in kinds.items()},
        "scripts": ", ".join(sorted({r["script"] for r in rows})) or "none",
        "samples": result.samples,
        "refinement_probes": result.probes,
        "refinement_detector_probes": result.detector_probes,
        "refinement_windows": result.windows,
        "decoded_frames": result.decoded_frames,
        "decoded_share": round(result.decoded_frames / max(summary["frame_count"], 1), 4),
        "ocr_seconds": round(elapsed, 2),
        "seconds_per_minute": round(60 * elapsed / max(summary["duration_s"], 1e-9), 2),
        "reader": reader.name,
        "preview": MetadataValue.md(_table_md(rows, ["start_s", "end_s", "kind", "script", "text"])),
        "onscreen_text": MetadataValue.path(store.uri_of(title_id, ONSCREEN_TEXT)),
    })


# -- visual_qc ---------------------------------------------------------------
@asset(
    partitions_def=titles,
    deps=[frame_signals],
    group_name="visual",
    code_version="visual-qc-2",
    kinds={"parquet"},
    description="Visual QC findings from the frame signals (qc_visual.parquet, QC event schema): "
    "black segments, frozen picture, letterbox/pillarbox, luminance flashes and hazardous flash rates.",
)
def visual_qc(context: AssetExecutionContext, storage: ArtifactStorage) -> MaterializeResult:
    title_id = title_of(context)
    store = storage.store()
    require_artifacts(store, title_id, (SIGNALS, "frame_signals"))
    summary = store.read_json(title_id, PASS_SUMMARY)
    sig = scalar_arrays(store.read_table(title_id, SIGNALS, columns=QC_SIGNAL_COLUMNS))
    events = visual_qc_events(sig, summary["duration_s"], summary["width"], summary["height"],
                              rotation=int(summary.get("rotation") or 0))
    table = events_table(events)
    store.write_table(title_id, QC_VISUAL, table)
    counts = {s: sum(e.severity == s for e in events) for s in ("info", "warning", "error")}
    return MaterializeResult(metadata={
        "events": len(events),
        **{f"{k}_events": v for k, v in counts.items()},
        "checks": ", ".join(sorted({e.check for e in events})) or "none",
        "preview": MetadataValue.md(_table_md(table.to_pylist(),
                                              ["check", "start_s", "end_s", "severity", "message"])),
        "qc_visual": MetadataValue.path(store.uri_of(title_id, QC_VISUAL)),
    })
