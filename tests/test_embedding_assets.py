"""The embedding assets and the `vectors` asset in the title graph, and `prism search` over them:
real Dagster runs, real decoded media, real models (bundled MiniLM, tiny random CLIP), real LanceDB."""

import json

import pytest
from dagster import AssetKey
from helpers import deliver
from tiny_models import build_tiny_clip
from typer.testing import CliRunner

from prism.media.synth import AudioTrack, Scene, Speech, write_title
from prism.settings import Settings
from prism.vectors.store import SEGMENTS, SHOTS
from prism_assets.cli import app
from prism_assets.definitions import build_definitions
from prism_assets.resources import build_resources
from prism_assets.runner import run_title

EMBEDDING_ASSETS = ["visual_embeddings", "text_embeddings", "vectors"]
LINES = ("The storm reaches the harbour tonight.", "I never liked chocolate cake.")


@pytest.fixture(scope="module")
def dialogue_title(tmp_path_factory):
    """Three shots (the last looks like the first) and two spoken lines."""
    path = tmp_path_factory.mktemp("dialogue") / "dialogue.mp4"
    write_title(path, [Scene(11, 3.0, pan_px_per_s=0), Scene(12, 3.0), Scene(11, 3.0, pan_px_per_s=0)],
                [AudioTrack("eng", (Speech(LINES[0], 0.5), Speech(LINES[1], 5.0)))], width=320, height=180)
    return path


def _store(settings):
    return build_resources(settings)["storage"].store()


def _vectors(settings):
    return build_resources(settings)["vector_index"].store()


def _search(*args: str) -> dict:
    result = CliRunner().invoke(app, ["search", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_title_is_embedded_indexed_and_searchable(instance, prism_home, dialogue_title):
    deliver(prism_home, dialogue_title, "dlg-1", series="Harbour Nights")
    outcome = run_title("dlg-1", instance, settings=prism_home)
    assert outcome.success, outcome.failures
    assert set(EMBEDDING_ASSETS) <= set(outcome.materialized)
    assert outcome.checks["vectors_match_artifacts"] is True

    store = _store(prism_home)
    keyframes = store.read_table("dlg-1", "keyframes.parquet")
    embedded = store.read_table("dlg-1", "keyframe_embeddings.parquet")
    assert embedded.num_rows == keyframes.num_rows >= 3
    assert embedded.schema.metadata[b"prism.model_id"] == b"prism/color-layout-v1"
    lines = store.read_table("dlg-1", "transcript_embeddings.parquet")
    assert lines.num_rows == store.read_table("dlg-1", "transcript.parquet").num_rows >= 2
    assert lines.schema.metadata[b"prism.model_id"] == b"sentence-transformers/all-MiniLM-L6-v2"

    vectors = _vectors(prism_home)
    shot_ids = vectors.title_ids(SHOTS, "dlg-1")
    assert len(shot_ids) == keyframes.num_rows
    row = vectors.open(SHOTS).search().where("title_id = 'dlg-1'").limit(1).to_list()[0]
    assert json.loads(row["metadata"])["series"] == "Harbour Nights"

    # Re-materializing the title replaces its rows: same ids, no duplicates.
    again = run_title("dlg-1", instance, settings=prism_home)
    assert again.success, again.failures
    assert vectors.title_ids(SHOTS, "dlg-1") == shot_ids
    assert vectors.open(SEGMENTS).count_rows() == lines.num_rows

    # Dialogue: hybrid search finds the spoken line by meaning.
    found = _search("a ship in bad weather at the port", "--k", "1")
    assert found["lines"][0]["title_id"] == "dlg-1"
    assert "harbour" in found["lines"][0]["text"].lower()
    # The demo's visual model has no text tower: said clearly, not noise.
    assert found["shots"] == []
    assert "embeds images only" in found["notes"][0] and "PRISM_VISUAL_MODEL_SOURCE" in found["notes"][0]
    # Visually similar shots: the last shot shows the first one's scene again.
    like = _search("--like", "dlg-1:0", "--k", "2")
    assert like["shots"][0]["shot_index"] == 2 and like["shots"][0]["score"] > like["shots"][1]["score"]

    # The human output: a table with the keyframe's path.
    shown = CliRunner().invoke(app, ["search", "--like", "dlg-1:0"])
    assert shown.exit_code == 0 and "shot00002_f" in shown.stdout
    refused = CliRunner().invoke(app, ["search", "x", "--in", "shots"])
    assert refused.exit_code == 1 and "embeds images only" in refused.output


def test_model_change_is_refused_until_a_rebuild_is_asked_for(instance, prism_home, dialogue_title,
                                                             tmp_path, monkeypatch):
    deliver(prism_home, dialogue_title, "dlg-2")
    assert run_title("dlg-2", instance, settings=prism_home).success
    rows_before = _vectors(prism_home).open(SHOTS).count_rows()

    # Switch to a CLIP checkpoint (tiny, random, loaded through from_pretrained).
    monkeypatch.setenv("PRISM_VISUAL_MODEL_SOURCE", str(build_tiny_clip(tmp_path / "clip")))
    settings = Settings()
    job = build_definitions(settings).resolve_job_def("process_title")
    selection = [AssetKey(a) for a in ("visual_embeddings", "vectors")]
    result = job.execute_in_process(instance=instance, partition_key="dlg-2", raise_on_error=False,
                                    asset_selection=selection)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.user_failure_data.description
    assert "title dlg-2" in message and "prism/color-layout-v1" in message
    assert "PRISM_VECTORS_ON_MODEL_CHANGE" in message
    assert _vectors(settings).open(SHOTS).count_rows() == rows_before  # nothing mixed in

    monkeypatch.setenv("PRISM_VECTORS_ON_MODEL_CHANGE", "recreate")
    settings = Settings()
    job = build_definitions(settings).resolve_job_def("process_title")
    result = job.execute_in_process(instance=instance, partition_key="dlg-2", asset_selection=selection)
    assert result.success
    vectors = _vectors(settings)
    assert vectors.model_of(SHOTS).model_id != "prism/color-layout-v1"
    # With a text tower, text → shot search answers with the title's shots.
    found = _search("a red truck", "--in", "shots", "--title", "dlg-2", "--k", "2")
    assert [h["title_id"] for h in found["shots"]] == ["dlg-2", "dlg-2"] and found["notes"] == []
