"""The per-title graph run through the real Definitions on a real (SQLite) Dagster instance."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import AssetKey, AssetRecordsFilter, DagsterRunStatus
from helpers import deliver

from prism_assets.definitions import build_definitions
from prism_assets.resources import build_resources
from prism_assets.runner import NoDelivery, run_title
from prism_assets.status import title_status

REPO = Path(__file__).resolve().parent.parent
VISUAL_ASSETS = ("frame_signals", "shots", "keyframes", "onscreen_text", "visual_qc")
AUDIO_ASSETS = ("audio", "speech_segments", "speakers", "loudness", "transcript", "voices", "audio_qc")
QC_ASSETS = ("qc", "report", "title_bundle")
EMBEDDING_ASSETS = ("visual_embeddings", "text_embeddings", "onscreen_text_embeddings", "vectors")
LOCALIZATION_ASSETS = ("subtitle_template", "dialogue_list")
ALL_ASSETS = {"delivery", "source_probe", *VISUAL_ASSETS, *AUDIO_ASSETS, *EMBEDDING_ASSETS, *QC_ASSETS,
              *LOCALIZATION_ASSETS}
VISUAL_CHECKS = ("shots_tile_duration", "every_shot_has_keyframe", "keyframes_inside_shots",
                 "keyframe_images_decode")


def store_of(settings):
    return build_resources(settings)["storage"].store()


def test_definitions_load_with_the_expected_graph(prism_home):
    defs = build_definitions(prism_home)
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == ALL_ASSETS
    assert graph.get(AssetKey("source_probe")).parent_keys == {AssetKey("delivery")}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.partitions_def.name == "titles"
        assert node.code_version, f"{key} has no code_version"
    check_keys = {c.name for c in graph.asset_check_keys}
    assert check_keys == {"decodable_video", *VISUAL_CHECKS, "vectors_match_artifacts", "content_qc"}
    assert defs.resolve_job_def("process_title")
    assert defs.resolve_sensor_def("delivery_sensor")
    assert defs.resolve_schedule_def("daily_delivery_batch")


def test_dagster_definitions_validate_passes(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "PRISM_HOME": str(tmp_path / "home")}
    proc = subprocess.run([sys.executable, "-m", "dagster", "definitions", "validate",
                           "-w", "workspace.yaml"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "All code locations passed validation" in proc.stdout + proc.stderr


def test_title_run_materializes_probe_with_lineage_and_checks(instance, prism_home, media):
    deliver(prism_home, media["two_tracks"], "ep-1", series="Night Shift", episode=1,
            audio_languages=["en", "ko"])
    outcome = run_title("ep-1", instance, settings=prism_home)
    assert outcome.success, outcome.failures
    assert outcome.materialized[:2] == ["delivery", "source_probe"]
    assert set(outcome.materialized) == ALL_ASSETS
    # Pipeline checks all pass; content_qc is the title's QC verdict (a warning-level check).
    assert set(outcome.checks) == {"decodable_video", *VISUAL_CHECKS, "vectors_match_artifacts", "content_qc"}
    assert all(passed for name, passed in outcome.checks.items() if name != "content_qc")

    store = store_of(prism_home)
    files = set(store.list_files("ep-1"))
    assert {"delivery.json", "probe.json", "shots.parquet", "loudness.json", "qc.parquet", "qc_summary.json",
            "report.html", "qc_timeline.png"} <= files
    # Every image and link of the report resolves inside the title folder.
    html = store.read_bytes("ep-1", "report.html").decode()
    refs = {r for r in re.findall(r'(?:src|href)="([^"#]+)"', html) if not r.startswith("data:")}
    assert refs and refs <= files, refs - files
    assert "thumbnails/sprite_000.jpg" in refs and "contact_sheet.jpg" in refs
    probe = store.read_json("ep-1", "probe.json")
    assert probe["video"]["codec"] == "h264" and probe["video"]["width"] == 320
    assert [a["language"] for a in probe["audio"]] == ["eng", "kor"]
    record = store.read_json("ep-1", "delivery.json")
    assert record["manifest"]["series"] == "Night Shift"

    run = instance.get_run_by_id(outcome.run_id)
    assert run.status == DagsterRunStatus.SUCCESS
    assert run.tags["dagster/partition"] == "ep-1" and run.tags["prism/delivery_date"] == "2026-11-23"
    mat = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey("source_probe"), asset_partitions=["ep-1"]), limit=1
    ).records[0].asset_materialization
    assert mat.metadata["audio_tracks"].value == 2
    assert mat.metadata["resolution"].value == "320x180"
    status = title_status(instance, "ep-1")
    assert status.complete and status.last_run_status == "SUCCESS"


def test_rerun_replaces_artifacts_exactly(instance, prism_home, media):
    deliver(prism_home, media["clip"], "ep-1")
    assert run_title("ep-1", instance, settings=prism_home).success
    store = store_of(prism_home)
    before = {f: store.read_bytes("ep-1", f) for f in store.list_files("ep-1")}
    assert run_title("ep-1", instance, settings=prism_home).success
    after = {f: store.read_bytes("ep-1", f) for f in store.list_files("ep-1")}
    assert before == after


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("zero_byte", "media file is empty"),
        ("not_video", "not a recognisable media container"),
        ("truncated_mp4", "truncated"),
        ("truncated_mkv", "truncated"),
    ],
)
def test_bad_media_fails_its_title_only_with_a_specific_error(instance, prism_home, media,
                                                              name, message):
    deliver(prism_home, media["clip"], "good-1")
    deliver(prism_home, media[name], "bad-1")
    bad = run_title("bad-1", instance, settings=prism_home)
    assert not bad.success
    assert len(bad.failures) == 1 and bad.failures[0].startswith("source_probe: title bad-1:")
    assert message in bad.failures[0]
    store = store_of(prism_home)
    assert not store.exists("bad-1", "probe.json")  # nothing half-written
    good = run_title("good-1", instance, settings=prism_home)
    assert good.success and store.exists("good-1", "probe.json")


def test_audio_only_delivery_fails_the_blocking_check(instance, prism_home, media):
    deliver(prism_home, media["audio_only"], "radio-1")
    outcome = run_title("radio-1", instance, settings=prism_home)
    assert not outcome.success
    assert outcome.checks == {"decodable_video": False}
    status = title_status(instance, "radio-1")
    probe = next(a for a in status.assets if a.asset == "source_probe")
    assert probe.checks == {"decodable_video": False}


def test_manifest_for_another_title_is_refused(instance, prism_home, media):
    found = deliver(prism_home, media["clip"], "ep-1")
    deliver(prism_home, media["clip"], "ep-2")
    outcome = run_title("ep-2", instance, settings=prism_home, manifest_key=found.key)
    assert not outcome.success
    assert "is for title 'ep-1', not this one" in outcome.failures[0]


def test_run_without_delivery_is_a_clear_error(instance, prism_home):
    with pytest.raises(NoDelivery, match="no valid delivery manifest for title 'ghost'"):
        run_title("ghost", instance, settings=prism_home)


def test_hostile_partition_key_is_refused_before_any_path(instance, prism_home):
    # Someone adds a partition by hand (UI/API) that never went through manifest validation.
    instance.add_dynamic_partitions("titles", ["..%2Fescape", "a..b"])
    job = build_definitions(prism_home).resolve_job_def("process_title")
    result = job.execute_in_process(instance=instance, partition_key="a..b", raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "refusing partition: title id 'a..b' contains '..'" in (
        failure.step_failure_data.user_failure_data.description)
    assert not (prism_home.home / "artifacts").exists()
