"""A whole title through Dagster with Amazon Bedrock as both embedding backends: the real
``bedrock-runtime`` clients Prism builds from its settings, answered at the HTTP boundary
(tests/bedrock_fake.py, bodies from the public Nova docs). Checks the rows in LanceDB, search
through the same path as ``prism search``, the model recorded on the tables, the usage reported
in the materializations, that a re-run sends nothing, that only stills and text were sent, and
that access denied fails the step with the setting named."""

import base64
import io
import json

import boto3
import pytest
from bedrock_fake import NOVA, FakeBedrock
from dagster import AssetKey, AssetRecordsFilter
from helpers import deliver
from PIL import Image
from typer.testing import CliRunner

from prism.media.synth import AudioTrack, Scene, Speech, write_title
from prism.settings import Settings
from prism.vectors.store import SEGMENTS, SHOTS, EmbeddingModel, ModelMismatch
from prism_assets.cli import app
from prism_assets.definitions import build_definitions
from prism_assets.resources import build_resources
from prism_assets.runner import run_title

LINES = ("The storm reaches the harbour tonight.", "I never liked chocolate cake.")
MODEL_ID = f"bedrock:{NOVA}:256"


@pytest.fixture(scope="module")
def title_video(tmp_path_factory):
    path = tmp_path_factory.mktemp("bedrock-title") / "title.mp4"
    write_title(path, [Scene(21, 3.0, pan_px_per_s=0), Scene(22, 3.0), Scene(23, 3.0)],
                [AudioTrack("eng", (Speech(LINES[0], 0.5), Speech(LINES[1], 5.0)))], width=320, height=180)
    return path


@pytest.fixture
def bedrock(prism_home, monkeypatch) -> FakeBedrock:
    """Both model sources on Bedrock, and the process's default boto3 session answering for it
    (the clients Prism creates from its settings inherit the session's event hooks)."""
    environment = {
        "PRISM_VISUAL_MODEL_SOURCE": f"bedrock:{NOVA}", "PRISM_TEXT_MODEL_SOURCE": f"bedrock:{NOVA}",
        "PRISM_BEDROCK_EMBEDDING_DIMENSION": "256", "PRISM_BEDROCK_MAX_CONCURRENCY": "4",
        "PRISM_BEDROCK_REGION": "eu-west-1", "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME"):
        monkeypatch.delenv(name, raising=False)
    session = boto3.Session()
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", session)
    return FakeBedrock().register(session.events)


def _metadata(instance, asset: str, title_id: str) -> dict:
    record = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[title_id]), limit=1).records[0]
    return {k: v.value for k, v in record.asset_materialization.metadata.items()}


def _search(*args: str) -> dict:
    result = CliRunner().invoke(app, ["search", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_title_embedded_by_bedrock_is_indexed_searchable_and_free_to_rerun(
        instance, prism_home, bedrock, title_video, tmp_path, monkeypatch):
    deliver(prism_home, title_video, "nova-1")
    outcome = run_title("nova-1", instance, settings=Settings())
    assert outcome.success, outcome.failures
    assert outcome.checks["vectors_match_artifacts"] is True

    settings = Settings()
    store = build_resources(settings)["storage"].store()
    keyframes = store.read_table("nova-1", "keyframes.parquet")
    transcript = store.read_table("nova-1", "transcript.parquet")
    texts = transcript.column("text").to_pylist()
    assert keyframes.num_rows >= 3 and len(texts) >= 2

    # Only keyframe stills and transcript text were sent: every request is a single-embedding of an
    # image or a text, every image is a one-frame JPEG of a keyframe's size, nothing else.
    sizes = {(r["width"], r["height"]) for r in keyframes.select(["width", "height"]).to_pylist()}
    images, sent_texts = [], []
    for request in bedrock.requests:
        assert request.model == NOVA and request.headers["Content-Type"] == "application/json"
        assert set(request.doc) == {"taskType", "singleEmbeddingParams"}
        assert request.doc["taskType"] == "SINGLE_EMBEDDING"
        params = request.doc["singleEmbeddingParams"]
        assert params["embeddingPurpose"] == "GENERIC_INDEX" and params["embeddingDimension"] == 256
        media = set(params) - {"embeddingPurpose", "embeddingDimension"}
        assert media in ({"image"}, {"text"}), media  # never "audio" or "video"
        if "image" in params:
            assert params["image"]["format"] == "jpeg" and set(params["image"]["source"]) == {"bytes"}
            data = base64.b64decode(params["image"]["source"]["bytes"], validate=True)
            with Image.open(io.BytesIO(data)) as im:
                assert im.format == "JPEG" and getattr(im, "n_frames", 1) == 1 and im.size in sizes
            images.append(data)
        else:
            sent_texts.append(params["text"]["value"])
    assert len(images) == keyframes.num_rows and sorted(sent_texts) == sorted(texts)

    # What was sent is in the materializations' metadata (cost per title in the UI).
    visual = _metadata(instance, "visual_embeddings", "nova-1")
    assert visual["model_id"] == MODEL_ID and visual["text_tower"] is True
    assert (visual["api_calls"], visual["api_images"], visual["api_characters"], visual["api_cache_hits"]) == \
        (keyframes.num_rows, keyframes.num_rows, 0, 0)
    lines = _metadata(instance, "text_embeddings", "nova-1")
    assert (lines["api_calls"], lines["api_images"], lines["api_characters"]) == \
        (len(texts), 0, sum(len(t) for t in texts))

    # The tables record the Bedrock model and its width: one space for shots and lines.
    vectors = build_resources(settings)["vector_index"].store()
    assert vectors.model_of(SHOTS) == EmbeddingModel(MODEL_ID, 256) == vectors.model_of(SEGMENTS)
    assert len(vectors.title_ids(SHOTS, "nova-1")) == keyframes.num_rows
    assert len(vectors.title_ids(SEGMENTS, "nova-1")) == len(texts)
    with pytest.raises(ModelMismatch, match="PRISM_VECTORS_ON_MODEL_CHANGE"):  # a local model is refused
        vectors.check_model(SHOTS, EmbeddingModel("prism/color-layout-v1", 128))

    # prism search: text → shot through Bedrock's retrieval purpose, and text → dialogue.
    indexed = len(bedrock.requests)
    found = _search("a ship in the harbour storm", "--k", "2")
    assert found["notes"] == []
    assert [h["title_id"] for h in found["shots"]] == ["nova-1", "nova-1"]
    assert "harbour" in found["lines"][0]["text"].lower()
    purposes = sorted(r.doc["singleEmbeddingParams"]["embeddingPurpose"] for r in bedrock.requests[indexed:])
    assert purposes == ["IMAGE_RETRIEVAL", "TEXT_RETRIEVAL"]

    # Re-materializing the title's embeddings and vectors pays nothing: every vector comes from the
    # content-hash cache, and the rows are replaced, not duplicated.
    before = len(bedrock.requests)
    job = build_definitions(Settings()).resolve_job_def("process_title")
    embedding_assets = [AssetKey(a) for a in ("visual_embeddings", "text_embeddings", "vectors")]
    assert job.execute_in_process(instance=instance, partition_key="nova-1",
                                  asset_selection=embedding_assets).success
    assert len(bedrock.requests) == before
    visual = _metadata(instance, "visual_embeddings", "nova-1")
    assert visual["api_calls"] == 0 and visual["api_cache_hits"] == keyframes.num_rows
    assert _metadata(instance, "text_embeddings", "nova-1")["api_cache_hits"] == len(texts)
    assert len(vectors.title_ids(SHOTS, "nova-1")) == keyframes.num_rows

    # Access denied (a fresh cache, so requests are made): the step fails naming the setting, and
    # the title's previous embeddings stay as they were.
    bedrock.deny = True
    monkeypatch.setenv("PRISM_EMBEDDING_CACHE_URI", str(tmp_path / "empty-cache"))
    before = store.read_bytes("nova-1", "keyframe_embeddings.parquet")
    job = build_definitions(Settings()).resolve_job_def("process_title")  # the new cache setting
    result = job.execute_in_process(instance=instance, partition_key="nova-1", raise_on_error=False,
                                    asset_selection=[AssetKey("visual_embeddings")])
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.user_failure_data.description
    assert "title nova-1" in message and "PRISM_VISUAL_MODEL_SOURCE" in message
    assert "AccessDeniedException" in message and "bedrock:InvokeModel" in message
    assert store.read_bytes("nova-1", "keyframe_embeddings.parquet") == before
