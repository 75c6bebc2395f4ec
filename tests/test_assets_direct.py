"""Each per-title asset invoked on its own with a built context (``build_asset_context`` with a
partition key and the real resources), the way the Dagster team's model projects test assets.

One small generated title (two scenes, a tone and a line of espeak-ng speech) is carried
through the assets in dependency order; every test looks at one asset's own result: its
artifacts, its metadata and its checks. ``qc`` is also tested alone on prepared findings,
and every asset refuses to run, naming the missing upstream asset, when its input is absent.
The whole graph run by Dagster stays in test_pipeline.py and the other full-run tests.
"""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from dagster import DagsterInstance, Failure, build_asset_context, materialize
from helpers import deliver

from prism.media.synth import AudioTrack, Scene, Speech, Tone, espeak_available, write_title
from prism.qc.events import QcEvent, events_table
from prism.settings import Settings
from prism.storage import ArtifactStore
from prism_assets.assets import (
    PER_TITLE_ASSETS,
    audio,
    audio_qc,
    delivery,
    dialogue_list,
    frame_signals,
    keyframes,
    loudness,
    qc,
    report,
    shots,
    source_probe,
    speakers,
    speech_segments,
    subtitle_template,
    title_bundle,
    transcript,
    visual_qc,
)
from prism_assets.partitions import titles
from prism_assets.resources import build_resources
from prism_assets.tags import MANIFEST_KEY

pytestmark = pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")

TITLE = "unit-1"


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """An isolated embedded default for the module (PRISM_HOME in a temp dir)."""
    root = tmp_path_factory.mktemp("direct")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PRISM_HOME", str(root / "prism-home"))
        mp.setenv("DAGSTER_HOME", str(root / "prism-home" / "dagster"))
        (root / "prism-home" / "dagster").mkdir(parents=True)
        settings = Settings()
        video = root / "unit.mp4"
        write_title(video, [Scene(4, 2.0), Scene(6, 2.4)],
                    [AudioTrack("eng", (Tone(0.2, 0.6), Speech("Hello, this is a test.", 1.5)))],
                    width=320, height=180, fps=25.0)
        found = deliver(settings, video, TITLE)
        yield settings, found


@pytest.fixture(scope="module")
def resources(home):
    settings, _ = home
    return build_resources(settings)


@pytest.fixture(scope="module")
def store(home) -> ArtifactStore:
    settings, _ = home
    return build_resources(settings)["storage"].store()


def invoke(asset_fn, resources: dict, title_id: str = TITLE):
    """Call an asset directly, as Dagster would, with a context built for one partition."""
    context = build_asset_context(partition_key=title_id, resources=resources)
    return asset_fn(context)


def meta(result, key):
    value = result.metadata[key]
    return getattr(value, "value", getattr(value, "text", value))


@pytest.fixture(scope="module")
def results(home, resources):
    """The title carried through the assets in dependency order (each invoked directly).

    ``delivery`` reads its manifest key from the run's tags, which a directly invoked context does
    not have; it runs as a one-asset materialization with those tags instead."""
    _, found = home
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(titles.name, [TITLE])
        run = materialize([delivery], partition_key=TITLE, resources=resources, instance=instance,
                          tags={MANIFEST_KEY: found.key})
    assert run.success
    out = {"delivery": run}
    for asset_fn in (source_probe, frame_signals, shots, keyframes, visual_qc, audio, speech_segments,
                     loudness, speakers, transcript, audio_qc, subtitle_template, dialogue_list):
        out[asset_fn.key.path[-1]] = invoke(asset_fn, resources)
    return out


def test_every_asset_of_the_graph_is_covered_here_or_named_as_covered_elsewhere():
    here = {"delivery", "source_probe", "frame_signals", "shots", "keyframes", "visual_qc", "audio",
            "speech_segments", "loudness", "speakers", "transcript", "audio_qc", "qc", "report", "title_bundle",
            "subtitle_template", "dialogue_list"}
    # Tested alone in their own modules (model-heavy): voices (test_speaker_assets.py),
    # onscreen_text (test_ocr_asset.py), the embeddings and vectors (test_embedding_assets.py).
    elsewhere = {"voices", "onscreen_text", "visual_embeddings", "text_embeddings",
                 "onscreen_text_embeddings", "vectors"}
    graph = {a.key.path[-1] for a in PER_TITLE_ASSETS}
    assert graph - here - elsewhere == set(), graph - here - elsewhere


def test_delivery_writes_the_validated_manifest(results, store, home):
    _, found = home
    record = store.read_json(TITLE, "delivery.json")
    assert record["media_location"] == found.media_location
    (mat,) = results["delivery"].asset_materializations_for_node("delivery")
    assert mat.metadata["manifest_sha256"].value == found.digest


def test_source_probe_reports_the_streams_and_passes_its_blocking_check(results, store):
    result = results["source_probe"]
    probe = store.read_json(TITLE, "probe.json")
    assert probe["video"]["width"] == 320 and probe["video"]["height"] == 180
    assert abs(probe["duration_s"] - 4.4) < 0.1 and len(probe["audio"]) == 1
    assert [c.passed for c in result.check_results] == [True]


def test_frame_signals_has_one_row_per_frame(results, store):
    with store.local_copy(TITLE, "frame_signals.parquet") as path:
        rows = pq.ParquetFile(path).metadata.num_rows
    assert rows == 110  # 2.0 s + 2.4 s at 25 fps
    assert meta(results["frame_signals"], "frames") == rows


def test_shots_finds_the_one_cut(results, store):
    table = store.read_table(TITLE, "shots.parquet").to_pylist()
    assert len(table) == 2
    assert table[1]["start_frame"] == 50 and table[1]["transition"] == "cut"
    assert all(c.passed for c in results["shots"].check_results)


def test_keyframes_one_image_per_shot_inside_it(results, store):
    rows = store.read_table(TITLE, "keyframes.parquet").to_pylist()
    shots_ = store.read_table(TITLE, "shots.parquet").to_pylist()
    assert {r["shot_index"] for r in rows if r["rank"] == 0} == {0, 1}
    for r in rows:
        s = shots_[r["shot_index"]]
        assert s["start_frame"] <= r["frame_index"] < s["end_frame"]
        assert store.read_bytes(TITLE, r["path"])[:2] == b"\xff\xd8"  # a JPEG
    assert all(c.passed for c in results["keyframes"].check_results)


def test_visual_qc_writes_the_shared_finding_schema(results, store):
    table = store.read_table(TITLE, "qc_visual.parquet")
    assert table.column_names[:4] == ["check", "track", "start_s", "end_s"]


def test_audio_decodes_the_track_once_into_flac_and_meter(results, store):
    info = store.read_json(TITLE, "audio.json")
    (track,) = info["tracks"]
    assert store.exists(TITLE, track["speech_audio"]) and store.exists(TITLE, track["meter"])
    assert abs(track["duration_s"] - 4.4) < 0.1 and info["no_audio"] is False


def test_speech_segments_find_the_spoken_line(results, store):
    rows = store.read_table(TITLE, "speech.parquet").to_pylist()
    assert rows, "VAD found no speech in a title that has a spoken line"
    assert rows[0]["start_s"] == pytest.approx(1.5, abs=0.35)


def test_loudness_measures_the_track(results, store):
    (track,) = store.read_json(TITLE, "loudness.json")["tracks"]
    assert -40 < track["integrated_lufs"] < 0 and track["short_term"]["lufs"]


def test_transcript_hears_the_line(results, store):
    rows = store.read_table(TITLE, "transcript.parquet").to_pylist()
    assert rows, "no transcript segment for a spoken line"
    text = " ".join(r["text"] for r in rows).lower()
    assert "hello" in text or "test" in text, text
    assert store.exists(TITLE, "transcript.en.vtt")


def test_audio_qc_writes_findings_with_the_track(results, store):
    table = store.read_table(TITLE, "qc_audio.parquet").to_pylist()
    assert all(r["track"] in (0, None) for r in table)
    assert meta(results["audio_qc"], "events") == len(table)
    assert meta(results["audio_qc"], "spec") == "atsc-a85"


def test_subtitle_template_times_the_line_to_the_frames(results, store):
    summary = store.read_json(TITLE, "subtitle_template.json")
    assert summary["timecode"] == "25 NDF" and summary["cuts"] == 1
    (track,) = summary["tracks"]
    assert track["files"] == ["subtitles.en.vtt", "subtitles.en.srt", "subtitles.en.ttml"]
    events = store.read_table(TITLE, "subtitle_events.parquet").to_pylist()
    assert len(events) == track["events"] >= 1
    for e in events:  # on the frames of a 25 fps title
        assert e["start_s"] == pytest.approx(e["in_frame"] / 25, abs=1e-3)
        assert e["end_s"] == pytest.approx(e["out_frame"] / 25, abs=1e-3)
    assert store.read_bytes(TITLE, "subtitles.en.vtt").startswith(b"WEBVTT")
    assert meta(results["subtitle_template"], "events") == len(events)
    assert store.exists(TITLE, "subtitle_conformance.parquet") and store.exists(TITLE, "qc_subtitles.parquet")


def test_dialogue_list_has_a_row_per_event(results, store):
    data = json.loads(store.read_bytes(TITLE, "dialogue_list.json"))
    events = store.read_table(TITLE, "subtitle_events.parquet").num_rows
    assert len(data["rows"]) == events == meta(results["dialogue_list"], "rows")
    assert data["timecode"] == "25 NDF" and data["rows"][0]["in_tc"].startswith("00:00:0")
    assert store.read_bytes(TITLE, "dialogue_list.xlsx")[:2] == b"PK"


def test_qc_grades_prepared_findings(tmp_path):
    root = tmp_path / "artifacts"
    store = ArtifactStore(str(root))
    store.write_table("qc-1", "qc_visual.parquet", events_table([
        QcEvent(check="black", start_s=10, end_s=12, severity="warning", message="black frames"),
    ]))
    store.write_table("qc-1", "qc_audio.parquet", events_table([
        QcEvent(check="loudness_integrated", track=0, start_s=0, end_s=60, severity="error", value=-12.0,
                message="too loud"),
    ]))
    store.write_json("qc-1", "probe.json", {"duration_s": 60.0})
    resources = build_resources(Settings(home=tmp_path / "home", storage_uri=str(root)))
    result = invoke(qc, resources, "qc-1")
    summary = store.read_json("qc-1", "qc_summary.json")
    assert summary["status"] == "fail" and summary["failing"] == ["loudness_integrated"]
    assert summary["counts"] == {"info": 0, "warning": 1, "error": 1}
    (check,) = result.check_results
    assert not check.passed and "loudness_integrated" in check.description
    assert [e["check"] for e in store.read_table("qc-1", "qc.parquet").to_pylist()] == [
        "loudness_integrated", "black"]


def test_qc_report_and_bundle_on_the_carried_title(results, resources, store):
    from prism_assets.assets import onscreen_text as onscreen_text_asset
    from prism_assets.assets import (
        onscreen_text_embeddings,
        text_embeddings,
        vectors,
        visual_embeddings,
    )
    from prism_assets.assets import voices as voices_asset

    # The upstream steps of report and bundle that live in other modules' tests run here too.
    for asset_fn in (voices_asset, onscreen_text_asset, visual_embeddings, text_embeddings,
                     onscreen_text_embeddings, vectors):
        invoke(asset_fn, resources)
    qc_result = invoke(qc, resources)
    assert meta(qc_result, "status") in ("pass", "warn", "fail")
    rep = invoke(report, resources)
    html = store.read_bytes(TITLE, "report.html").decode()
    assert TITLE in html and store.read_bytes(TITLE, "qc_timeline.png")[:4] == b"\x89PNG"
    assert meta(rep, "shots") == 2
    bundle = invoke(title_bundle, resources)
    export = resources["export"].target().dir(TITLE)
    manifest = json.loads((export / "bundle.json").read_text())
    assert meta(bundle, "files") == len(manifest["files"]) > 5
    assert not any(f["path"].endswith((".mp4", ".flac")) for f in manifest["files"])  # never media


@pytest.mark.parametrize("asset_fn,needs", [
    (source_probe, "delivery"), (frame_signals, "delivery"), (shots, "frame_signals"),
    (keyframes, "delivery"), (audio, "delivery"), (speech_segments, "audio"), (loudness, "audio"),
    (transcript, "audio"), (qc, "visual_qc"), (subtitle_template, "transcript"),
    (dialogue_list, "subtitle_template"),
])
def test_an_asset_without_its_input_names_the_asset_to_materialize(asset_fn, needs, tmp_path):
    resources = build_resources(Settings(home=tmp_path / "home", storage_uri=str(tmp_path / "empty")))
    with pytest.raises(Failure, match=rf"title ghost-1: .*{needs}"):
        invoke(asset_fn, resources, "ghost-1")


def test_a_title_without_on_screen_text_loads_no_text_model_for_it(results, resources, store):
    """An empty input is embedded without loading the model: the empty artifact still names the
    model (read from its files), so the vectors step checks it like any other."""
    from prism_assets.assets import onscreen_text as onscreen_text_asset
    from prism_assets.assets import onscreen_text_embeddings
    from resources.models import MODELS

    invoke(onscreen_text_asset, resources)
    assert store.read_table(TITLE, "onscreen_text.parquet").num_rows == 0  # plain scenes: no text
    configured = resources["text_embedding"]
    # The same model under its own registry key (another batch size), so no other test has loaded it.
    text_model = type(configured)(**{**configured.model_dump(), "batch_size": configured.batch_size + 1})
    result = invoke(onscreen_text_embeddings, {**resources, "text_embedding": text_model})
    assert MODELS.peek(text_model._key()) is None
    table = store.read_table(TITLE, "onscreen_text_embeddings.parquet")
    assert table.num_rows == 0 and table.schema.field("vector").type.list_size == 384
    assert meta(result, "model_id") == "sentence-transformers/all-MiniLM-L6-v2"
