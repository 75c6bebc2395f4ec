"""The onscreen_text asset through the real Definitions on a real (SQLite) Dagster instance."""

import pytest
from dagster import AssetKey, AssetRecordsFilter
from helpers import deliver
from ocr_truth import short_title
from typer.testing import CliRunner

from prism.catalogue import search
from prism.ocr.base import similarity
from prism.ocr.tesseract import tesseract_available
from prism.qc.events import read_events
from prism_assets.cli import app
from prism_assets.definitions import build_definitions
from prism_assets.resources import build_resources
from prism_assets.runner import run_title

pytestmark = pytest.mark.skipif(not tesseract_available("kor+eng"),
                                reason="tesseract-ocr-kor/-eng not installed (scripts/setup.sh)")


@pytest.fixture(scope="module")
def ocr_title(tmp_path_factory):
    return short_title(tmp_path_factory.mktemp("ocr-asset") / "signs.mp4")


def test_onscreen_text_follows_shots_and_keyframes(prism_home):
    graph = build_definitions(prism_home).resolve_asset_graph()
    node = graph.get(AssetKey("onscreen_text"))
    assert node.parent_keys == {AssetKey("shots"), AssetKey("keyframes")}
    assert node.group_name == "visual"


def test_title_gets_timed_onscreen_text(instance, prism_home, ocr_title):
    deliver(prism_home, ocr_title.path, "signs-1")
    outcome = run_title("signs-1", instance, settings=prism_home)
    assert outcome.success, outcome.failures
    assert "onscreen_text" in outcome.materialized
    store = build_resources(prism_home)["storage"].store()
    rows = store.read_table("signs-1", "onscreen_text.parquet").to_pylist()
    # Small text at 180p: reading accuracy is measured in test_ocr.py; here, what was found and when.
    truth = ["부산 해운대 시장", "어디 가는 거야?", "집에 가고 싶어"]
    assert len(rows) == 3, rows
    assert all(similarity(r["text"], t) >= 0.7 for r, t in zip(rows, truth, strict=True)), rows
    sign, first, second = rows
    assert sign["start_s"] == pytest.approx(31 / 25) and sign["end_s"] == pytest.approx(4.0)
    assert sign["shot_index"] == 0 and sign["kind"] == "sign" and sign["script"] == "Hang"
    assert first["shot_index"] == 1 and first["kind"] == "subtitle"
    assert first["end_s"] == pytest.approx(second["start_s"]) == pytest.approx(160 / 25)
    meta = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey("onscreen_text"), asset_partitions=["signs-1"]), limit=1
    ).records[0].asset_materialization.metadata
    assert meta["events"].value == 3 and meta["subtitle_events"].value == 2
    # No audio, so no speech: subtitles on screen for 3.6 of the 8 s are a burned-in finding.
    qc = {e.check: e for e in read_events(store.read_bytes("signs-1", "qc.parquet"))}
    assert qc["burned_in_subtitles"].severity == "warning"
    assert qc["burned_in_subtitles"].value == pytest.approx(3.6 / 8, abs=0.01)
    export = build_resources(prism_home)["export"].target()
    assert (export.dir("signs-1") / "onscreen_text.parquet").exists()
    # The sign is in the catalogue: `prism search 부산` finds it with its title and time.
    hits = search("부산", scope="onscreen", settings=prism_home).onscreen
    assert (hits[0].title_id, hits[0].kind) == ("signs-1", "sign")
    assert hits[0].start_s == pytest.approx(31 / 25)
    shown = CliRunner().invoke(app, ["search", "부산", "--in", "onscreen"], catch_exceptions=False)
    assert shown.exit_code == 0 and "signs-1" in shown.output and "0:01.24" in shown.output, shown.output
