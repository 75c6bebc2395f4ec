"""The visual assets through the real Definitions on a real (SQLite) Dagster instance."""

import io

import pyarrow.parquet as pq
import pytest
from dagster import AssetKey, AssetRecordsFilter
from helpers import deliver
from PIL import Image

from prism.media.synth import Black, Dissolve, Scene, write_title
from prism.qc.events import read_events
from prism.settings import Settings
from prism.visual.sprites import parse_vtt
from prism_assets.compute import is_gpu_step
from prism_assets.definitions import build_definitions
from prism_assets.resources import build_resources
from prism_assets.runner import run_title

VISUAL = ["frame_signals", "shots", "keyframes", "visual_qc"]


@pytest.fixture(scope="module")
def episode(tmp_path_factory):
    path = tmp_path_factory.mktemp("episode") / "episode.mp4"
    truth = write_title(path, [Scene(1, 3.0), Scene(2, 12.0), Dissolve(1.0), Scene(3, 3.0), Black(2.5),
                               Scene(4, 3.0)], [], width=320, height=180, rotation=90)
    return path, truth


def _store(settings):
    return build_resources(settings)["storage"].store()


def _metadata(instance, asset, title):
    return instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[title]), limit=1
    ).records[0].asset_materialization.metadata


def test_visual_graph_shape(instance, prism_home):
    # (the live instance also replaces Dagster's context-wide defs-state storage, which an
    # earlier test's instance may have left pointing at a closed instance)
    graph = build_definitions(prism_home).resolve_asset_graph()
    assert graph.get(AssetKey("frame_signals")).parent_keys == {AssetKey("source_probe")}
    assert graph.get(AssetKey("shots")).parent_keys == {AssetKey("frame_signals")}
    assert graph.get(AssetKey("keyframes")).parent_keys == {AssetKey("shots")}
    assert graph.get(AssetKey("visual_qc")).parent_keys == {AssetKey("frame_signals")}
    defs = build_definitions(prism_home)
    gpu = {name for name in VISUAL if is_gpu_step(defs.resolve_assets_def(name).node_def.tags)}
    # The default CPU detector holds no GPU worker (test_compute checks transnetv2 moves it).
    assert gpu == set()
    assert defs.resolve_assets_def("shots").node_def.pool is None


def test_title_gets_shots_keyframes_sprites_and_qc(instance, prism_home, episode):
    path, truth = episode
    deliver(prism_home, path, "ep-7")
    outcome = run_title("ep-7", instance, settings=prism_home)
    assert outcome.success, outcome.failures
    assert set(VISUAL) <= set(outcome.materialized)
    # Five pipeline checks pass; content_qc is the title's QC verdict, checked by the QC tests.
    pipeline_checks = {k: v for k, v in outcome.checks.items() if k != "content_qc"}
    assert all(pipeline_checks.values()) and len(pipeline_checks) == 6  # incl. vectors_match_artifacts

    store = _store(prism_home)
    shots = pq.read_table(io.BytesIO(store.read_bytes("ep-7", "shots.parquet"))).to_pylist()
    # The 2.5 s black gap is a shot of its own, entered and left by hard cuts.
    assert [s["transition"] for s in shots] == ["start", "cut", "gradual", "cut", "cut"]
    assert [s["black"] for s in shots] == [False, False, False, True, False]
    assert [s["start_frame"] for s in shots if s["transition"] == "cut"] == truth.cuts
    assert shots[-1]["end_s"] == pytest.approx(truth.duration_s)

    keyframes = pq.read_table(io.BytesIO(store.read_bytes("ep-7", "keyframes.parquet"))).to_pylist()
    assert [k["shot_index"] for k in keyframes].count(1) == 2  # a 12 s shot: two keyframes (every 10 s)
    for k in keyframes:
        assert (k["width"], k["height"]) == (180, 320)  # displayed upright (rotation 90)
        with Image.open(io.BytesIO(store.read_bytes("ep-7", k["path"]))) as image:
            assert image.size == (180, 320)
    assert store.exists("ep-7", "contact_sheet.jpg")
    cues = parse_vtt(store.read_bytes("ep-7", "thumbnails.vtt").decode())
    assert cues[-1][1] == pytest.approx(truth.duration_s)
    assert all(store.exists("ep-7", c[2].split("#")[0]) for c in cues)

    events = read_events(store.read_bytes("ep-7", "qc_visual.parquet"))
    black = [e for e in events if e.check == "black"]
    assert len(black) == 1 and black[0].severity == "warning"

    meta = _metadata(instance, "shots", "ep-7")
    assert meta["shot_count"].value == 5 and meta["detector"].value == "cpu"
    assert meta["black_shots"].value == 1
    assert meta["median_shot_s"].value > 0 and "| shot_index |" in meta["preview"].value
    assert _metadata(instance, "keyframes", "ep-7")["contact_sheet"].value.endswith("contact_sheet.jpg")


def test_rerun_with_other_settings_replaces_keyframes_exactly(instance, prism_home, episode, monkeypatch):
    path, _ = episode
    deliver(prism_home, path, "ep-8")
    # Only what keyframes and sprites need (the rest of the graph is not the point here).
    visual = ["keyframes"]
    assert run_title("ep-8", instance, settings=prism_home, assets=visual).success
    store = _store(prism_home)
    first = set(store.list_files("ep-8"))
    assert {"keyframes.parquet", "thumbnails.vtt"} <= first and "transcript.parquet" not in first
    monkeypatch.setenv("PRISM_KEYFRAME_EVERY_S", "1")
    monkeypatch.setenv("PRISM_THUMBNAIL_INTERVAL_S", "0.5")
    dense = Settings()
    assert run_title("ep-8", instance, settings=dense, assets=visual).success
    assert len(set(store.list_files("ep-8")) - first) > 10  # more keyframes and sprite sheets
    monkeypatch.delenv("PRISM_KEYFRAME_EVERY_S")
    monkeypatch.delenv("PRISM_THUMBNAIL_INTERVAL_S")
    assert run_title("ep-8", instance, settings=Settings(), assets=visual).success
    assert set(store.list_files("ep-8")) == first  # stale images from the dense run are gone


def test_audio_only_title_skips_the_visual_assets(instance, prism_home, media):
    deliver(prism_home, media["audio_only"], "radio-2")
    outcome = run_title("radio-2", instance, settings=prism_home)
    assert outcome.checks == {"decodable_video": False}
    assert not set(VISUAL) & set(outcome.materialized)
    assert [f for f in outcome.failures if not f.startswith("source_probe")] == []
    assert _store(prism_home).list_files("radio-2") == ["delivery.json", "probe.json"]


def test_frame_signals_alone_on_audio_only_title_is_a_clear_failure(instance, prism_home, media):
    deliver(prism_home, media["audio_only"], "radio-3")
    store = _store(prism_home)
    run_title("radio-3", instance, settings=prism_home)  # delivery + probe (visual steps skipped)
    job = build_definitions(prism_home).resolve_job_def("process_title")
    result = job.execute_in_process(instance=instance, partition_key="radio-3", raise_on_error=False,
                                    asset_selection=[AssetKey("frame_signals")])
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "title radio-3: no decodable video: no video stream (audio-only delivery)" in (
        failure.step_failure_data.user_failure_data.description)
    assert not store.exists("radio-3", "frame_signals.parquet")


def test_transnetv2_detector_by_configuration(instance, prism_home, media, monkeypatch):
    monkeypatch.setenv("PRISM_SHOT_DETECTOR", "transnetv2")
    monkeypatch.setenv("PRISM_MODEL_DEVICE", "cpu")
    settings = Settings()
    deliver(settings, media["clip"], "tn-1")  # two 2 s scenes: one cut at frame 50
    outcome = run_title("tn-1", instance, settings=settings, assets=["keyframes"])
    assert set(outcome.materialized) == {"delivery", "source_probe", "frame_signals", "shots", "keyframes"}, (
        outcome.failures)
    meta = _metadata(instance, "shots", "tn-1")
    assert meta["detector"].value == "transnetv2"
    shots = pq.read_table(io.BytesIO(_store(settings).read_bytes("tn-1", "shots.parquet"))).to_pylist()
    assert [s["transition"] for s in shots] == ["start", "cut"]
    assert abs(shots[1]["start_frame"] - 50) <= 1


def test_nvdec_by_configuration_falls_back_to_software_and_says_so(instance, prism_home, media, monkeypatch):
    monkeypatch.setenv("PRISM_VISUAL_DECODER", "nvdec")
    settings = Settings()
    deliver(settings, media["clip"], "nv-1")
    outcome = run_title("nv-1", instance, settings=settings, assets=["frame_signals"])
    assert "frame_signals" in outcome.materialized, outcome.failures
    meta = _metadata(instance, "frame_signals", "nv-1")
    if meta["decoder"].value != "h264_cuvid":  # no NVIDIA GPU here: the title still gets its pass
        assert meta["decoder"].value == "h264"
        assert meta["decoder_note"].value.startswith("NVDEC unavailable")
    assert meta["frames"].value == 100


def test_segments_by_configuration_give_the_signals_and_keyframes_of_one_pass(instance, prism_home, media,
                                                                              monkeypatch):
    from prism.visual import segments as segmented_pass

    monkeypatch.setattr(segmented_pass, "MIN_SEGMENT_S", 1.0)  # the 4 s clip in two segments, from 2 s
    monkeypatch.setenv("PRISM_THUMBNAIL_INTERVAL_S", "0.5")
    tables = {}
    for title, segments in (("seg-1", "1"), ("seg-2", "2")):
        monkeypatch.setenv("PRISM_VISUAL_SEGMENTS", segments)
        settings = Settings()
        deliver(settings, media["clip"], title)
        outcome = run_title(title, instance, settings=settings, assets=["keyframes"])
        assert "keyframes" in outcome.materialized, outcome.failures
        assert _metadata(instance, "frame_signals", title)["segments"].value == int(segments)
        store = _store(settings)
        tables[title] = [pq.read_table(io.BytesIO(store.read_bytes(title, name)))
                         for name in ("frame_signals.parquet", "shots.parquet")]
        tables[title].append(store.read_bytes(title, "thumbnails.vtt"))
    assert tables["seg-2"][0].equals(tables["seg-1"][0])
    assert tables["seg-2"][1].equals(tables["seg-1"][1])
    assert tables["seg-2"][2] == tables["seg-1"][2]


def test_a_run_of_chosen_assets_takes_their_upstream_and_refuses_unknown_names(instance, prism_home, media):
    deliver(prism_home, media["clip"], "sel-1")
    with pytest.raises(ValueError, match="unknown assets: no_such_asset"):
        run_title("sel-1", instance, settings=prism_home, assets=["no_such_asset"])
    outcome = run_title("sel-1", instance, settings=prism_home, assets=["shots"])
    assert outcome.success
    assert set(outcome.materialized) == {"delivery", "source_probe", "frame_signals", "shots"}
