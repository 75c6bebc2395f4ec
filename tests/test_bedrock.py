"""The Amazon Bedrock (Nova Multimodal Embeddings) backend at its client boundary: a real
``bedrock-runtime`` client, answered by botocore's Stubber (request bodies, parsing, errors, the
cache) or at the HTTP boundary by tests/bedrock_fake.py (concurrency and throttling, which need
botocore's own retry handler and a pool served by content). Bodies are written from the public
Nova documentation; see bedrock_fake.py for where they come from."""

import base64
import io
import json

import boto3
import numpy as np
import pytest
from bedrock_fake import NOVA, FakeBedrock, nova_answer
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from PIL import Image

from prism.embeddings import EmbeddingError, load_image_embedder, load_text_embedder
from prism.embeddings.bedrock import (
    BedrockImageEmbedder,
    BedrockOptions,
    BedrockTextEmbedder,
    make_client,
)
from prism.modelstore import prefetch
from prism.settings import Settings

SOURCE = f"bedrock:{NOVA}"


@pytest.fixture(autouse=True)
def aws_env(monkeypatch):
    """Credentials and a region for the real client (signing needs them; nothing is ever sent)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME"):
        monkeypatch.delenv(name, raising=False)


def options(**overrides) -> BedrockOptions:
    values = {"dimension": 256, "max_concurrency": 1, "max_attempts": 3, "region": "eu-west-1"}
    return BedrockOptions(**{**values, **overrides})


def client(opts: BedrockOptions):
    return make_client(opts, "PRISM_VISUAL_MODEL_SOURCE")


def stubbed(cls, opts: BedrockOptions):
    """An embedder on a real client with a Stubber, and the InvokeModel parameters it was given."""
    real = client(opts)
    sent: list[dict] = []
    real.meta.events.register("before-parameter-build.bedrock-runtime.InvokeModel",
                              lambda params, **_: sent.append(dict(params)))
    stubber = Stubber(real)
    stubber.activate()
    return cls(SOURCE, options=opts, client=real), stubber, sent


def answer(vector, kind="IMAGE") -> dict:
    data = nova_answer(vector, kind)
    return {"body": StreamingBody(io.BytesIO(data), len(data)), "contentType": "application/json"}


EXPECTED_CALL = {"modelId": NOVA, "body": ANY, "contentType": "application/json", "accept": "application/json"}


def still(colour=(200, 30, 30), size=(64, 36)) -> Image.Image:
    return Image.new("RGB", size, colour)


def unit(dim, *hot) -> list[float]:
    v = [0.0] * dim
    for i, x in hot:
        v[i] = x
    return v


def test_image_and_text_requests_follow_the_nova_schema_and_vectors_are_parsed():
    embedder, stubber, sent = stubbed(BedrockImageEmbedder, options())
    stubber.add_response("invoke_model", answer(unit(256, (0, 3.0), (1, 4.0))), EXPECTED_CALL)
    stubber.add_response("invoke_model", answer(unit(256, (2, 2.0)), "TEXT"), EXPECTED_CALL)
    image = still()
    vectors = embedder.embed_images([image])
    query = embedder.embed_text_queries(["빨간 트럭이 항구에 있다"])  # Korean queries are just text
    stubber.assert_no_pending_responses()

    assert embedder.model_id == f"bedrock:{NOVA}:256" and embedder.dim == 256 and embedder.has_text_tower
    assert vectors.shape == (1, 256) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors[0, :2], [0.6, 0.8], atol=1e-6)  # L2-normalised
    np.testing.assert_allclose(query[0, 2], 1.0)

    image_body, query_body = (json.loads(p["body"]) for p in sent)
    jpeg = base64.b64decode(image_body["singleEmbeddingParams"]["image"]["source"]["bytes"])
    image_body["singleEmbeddingParams"]["image"]["source"]["bytes"] = "<base64>"
    assert image_body == {"taskType": "SINGLE_EMBEDDING", "singleEmbeddingParams": {
        "embeddingPurpose": "GENERIC_INDEX", "embeddingDimension": 256,
        "image": {"format": "jpeg", "source": {"bytes": "<base64>"}}}}
    with Image.open(io.BytesIO(jpeg)) as sent_image:  # the still itself, as a JPEG
        assert sent_image.format == "JPEG" and sent_image.size == image.size
        assert np.abs(np.asarray(sent_image, dtype=int) - np.asarray(image, dtype=int)).max() <= 3
    assert query_body == {"taskType": "SINGLE_EMBEDDING", "singleEmbeddingParams": {
        "embeddingPurpose": "IMAGE_RETRIEVAL", "embeddingDimension": 256,
        "text": {"truncationMode": "END", "value": "빨간 트럭이 항구에 있다"}}}
    assert embedder.usage.snapshot() == {"calls": 2, "images": 1, "characters": len("빨간 트럭이 항구에 있다"),
                                         "cache_hits": 0, "retries": 0}


def test_transcript_lines_are_indexed_and_queries_use_the_text_retrieval_purpose():
    embedder, stubber, sent = stubbed(BedrockTextEmbedder, options(dimension=384))
    for i in range(3):
        stubber.add_response("invoke_model", answer(unit(384, (i, 1.0)), "TEXT"), EXPECTED_CALL)
    lines = embedder.embed_texts(["The storm reaches the harbour.", "Cake?"])
    embedder.embed_text_queries(["a ship in bad weather"])
    stubber.assert_no_pending_responses()
    assert lines.shape == (2, 384) and lines[0, 0] == 1.0 and lines[1, 1] == 1.0
    purposes = [json.loads(p["body"])["singleEmbeddingParams"]["embeddingPurpose"] for p in sent]
    assert purposes == ["GENERIC_INDEX", "GENERIC_INDEX", "TEXT_RETRIEVAL"]
    assert embedder.model_id == f"bedrock:{NOVA}:384"
    with pytest.raises(EmbeddingError, match="blank"):
        embedder.embed_texts(["fine", "   "])


def test_a_vector_of_the_wrong_width_is_refused():
    embedder, stubber, _ = stubbed(BedrockImageEmbedder, options())
    stubber.add_response("invoke_model", answer([0.1] * 1024), EXPECTED_CALL)
    with pytest.raises(EmbeddingError, match=r"shape \(1024,\), expected \(256,\)"):
        embedder.embed_images([still()])


def test_access_denied_and_unknown_model_fail_with_the_setting_named():
    embedder, stubber, _ = stubbed(BedrockImageEmbedder, options())
    stubber.add_client_error("invoke_model", service_error_code="AccessDeniedException",
                             service_message="You don't have access to the model with the specified model ID.",
                             http_status_code=403, expected_params=EXPECTED_CALL)
    with pytest.raises(EmbeddingError) as denied:
        embedder.embed_images([still()])
    message = str(denied.value)
    assert "PRISM_VISUAL_MODEL_SOURCE" in message and "bedrock:InvokeModel" in message and NOVA in message

    text, stubber, _ = stubbed(BedrockTextEmbedder, options())
    stubber.add_client_error("invoke_model", service_error_code="ValidationException",
                             service_message="The provided model identifier is invalid.", http_status_code=400)
    with pytest.raises(EmbeddingError) as unknown:
        text.embed_texts(["hello"])
    message = str(unknown.value)
    assert "PRISM_TEXT_MODEL_SOURCE" in message and "model identifier is invalid" in message
    assert text.usage.calls == 0


def test_requests_run_concurrently_up_to_the_limit_and_duplicates_are_sent_once():
    opts = options(max_concurrency=4)
    real = client(opts)
    fake = FakeBedrock(gate=4).register(real.meta.events)
    embedder = BedrockImageEmbedder(SOURCE, options=opts, client=real)
    images = [still((10 * i, 100, 200 - 10 * i)) for i in range(12)]
    vectors = embedder.embed_images(images + images[:3])  # the same three stills again
    assert vectors.shape == (15, 256)
    np.testing.assert_array_equal(vectors[12:], vectors[:3])
    assert len(fake.requests) == 12 and embedder.usage.calls == 12 and embedder.usage.images == 12
    assert fake.max_in_flight == 4  # reached, never exceeded
    # Order is kept whatever order the pool finished in.
    assert len({v.tobytes() for v in vectors[:12]}) == 12


def test_throttling_is_retried_by_botocore_with_backoff():
    opts = options(max_attempts=4)
    real = client(opts)
    fake = FakeBedrock(throttle=1).register(real.meta.events)
    embedder = BedrockTextEmbedder(SOURCE, options=opts, client=real)
    vectors = embedder.embed_texts(["after a throttle"])
    assert vectors.shape == (1, 256)
    assert fake.attempts == 2 and len(fake.requests) == 1
    assert embedder.usage.snapshot()["retries"] == 1 and embedder.usage.calls == 1

    # Throttled on every attempt: the title fails, naming what to change.
    opts = options(max_attempts=2)
    real = client(opts)
    fake = FakeBedrock(throttle=10).register(real.meta.events)
    embedder = BedrockTextEmbedder(SOURCE, options=opts, client=real)
    with pytest.raises(EmbeddingError, match="PRISM_BEDROCK_MAX_CONCURRENCY") as info:
        embedder.embed_texts(["never answered"])
    assert "ThrottlingException" in str(info.value) and fake.attempts == 2


def test_access_denied_over_http_is_not_retried():
    opts = options(max_attempts=5)
    real = client(opts)
    fake = FakeBedrock(deny=True).register(real.meta.events)
    embedder = BedrockImageEmbedder(SOURCE, options=opts, client=real)
    with pytest.raises(EmbeddingError, match="AccessDeniedException"):
        embedder.embed_images([still()])
    assert fake.attempts == 1


def test_the_cache_makes_a_rerun_free(tmp_path):
    opts = options(max_concurrency=2, cache_uri=str(tmp_path / "cache"))
    real = client(opts)
    fake = FakeBedrock().register(real.meta.events)
    first = BedrockImageEmbedder(SOURCE, options=opts, client=real)
    images = [still((0, 50 * i, 90)) for i in range(3)]
    vectors = first.embed_images(images)
    lines = BedrockTextEmbedder(SOURCE, options=opts, client=real).embed_texts(["one line", "another"])
    assert len(fake.requests) == 5

    # A new process (new embedders, a Stubber with nothing queued: any request would fail).
    again, stubber, sent = stubbed(BedrockImageEmbedder, opts)
    np.testing.assert_array_equal(again.embed_images(images), vectors)
    text, stubber2, _ = stubbed(BedrockTextEmbedder, opts)
    np.testing.assert_array_equal(text.embed_texts(["one line", "another"]), lines)
    assert sent == [] and again.usage.calls == 0 and again.usage.cache_hits == 3
    assert text.usage.snapshot() == {"calls": 0, "images": 0, "characters": 0, "cache_hits": 2, "retries": 0}
    # The same content for retrieval is another vector: not served from the index entries.
    stubber.add_response("invoke_model", answer(unit(256, (5, 1.0)), "TEXT"), EXPECTED_CALL)
    again.embed_text_queries(["one line"])
    assert again.usage.calls == 1
    # Another width is another model: nothing shared.
    wider = BedrockImageEmbedder(SOURCE, options=options(dimension=1024, cache_uri=opts.cache_uri), client=real)
    wider.embed_images(images[:1])
    assert wider.usage.cache_hits == 0 and len(fake.requests) == 6


@pytest.mark.services  # a real S3 server (SeaweedFS), where production keeps the cache
def test_the_cache_lives_in_s3_artifact_storage(s3_bucket, s3_server):
    cache_uri = f"s3://{s3_bucket}/artifacts/cache/embeddings"
    opts = options(max_concurrency=4, cache_uri=cache_uri,
                   cache_storage_options={"endpoint_url": s3_server.endpoint_url})
    real = client(opts)
    fake = FakeBedrock().register(real.meta.events)
    images = [still((30 * i, 60, 90)) for i in range(4)]
    vectors = BedrockImageEmbedder(SOURCE, options=opts, client=real).embed_images(images)
    again = BedrockImageEmbedder(SOURCE, options=opts, client=real)
    np.testing.assert_array_equal(again.embed_images(images), vectors)
    assert len(fake.requests) == 4 and again.usage.cache_hits == 4 and again.usage.calls == 0
    listed = s3_server.client().list_objects_v2(Bucket=s3_bucket, Prefix="artifacts/cache/embeddings/")
    keys = listed["Contents"]
    assert len(keys) == 4 and all(k["Key"].endswith(".f32") and k["Size"] == 256 * 4 for k in keys)
    assert all(f"/{NOVA.replace(':', '_')}-256/" in k["Key"] for k in keys)


def test_an_unusable_cache_costs_requests_not_the_title(tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the cache directory should be")
    opts = options(cache_uri=str(blocker / "cache"))
    real = client(opts)
    fake = FakeBedrock().register(real.meta.events)
    embedder = BedrockImageEmbedder(SOURCE, options=opts, client=real)
    assert embedder.embed_images([still()]).shape == (1, 256)
    assert embedder.embed_images([still()]).shape == (1, 256)
    assert len(fake.requests) == 2 and embedder.usage.cache_hits == 0


def test_sources_settings_and_loaders_choose_bedrock(monkeypatch, tmp_path):
    opts = options(dimension=1024)
    visual = load_image_embedder(SOURCE, bedrock=opts)
    text = load_text_embedder(f"  {SOURCE} ", bedrock=opts)
    assert isinstance(visual, BedrockImageEmbedder) and isinstance(text, BedrockTextEmbedder)
    assert visual.model_id == text.model_id == f"bedrock:{NOVA}:1024"  # one space for shots and lines
    with pytest.raises(EmbeddingError, match="PRISM_BEDROCK_EMBEDDING_DIMENSION"):
        load_image_embedder(SOURCE, bedrock=options(dimension=512))
    with pytest.raises(EmbeddingError, match="PRISM_TEXT_MODEL_SOURCE"):
        load_text_embedder("bedrock:", bedrock=opts)

    monkeypatch.setenv("PRISM_PROFILE", "production")
    monkeypatch.setenv("PRISM_STORAGE_URI", "s3://artifacts/a")
    monkeypatch.setenv("PRISM_INBOX_URI", "s3://media/inbox")
    monkeypatch.setenv("PRISM_VISUAL_MODEL_SOURCE", SOURCE)
    monkeypatch.setenv("PRISM_TEXT_MODEL_SOURCE", SOURCE)
    monkeypatch.setenv("PRISM_BEDROCK_EMBEDDING_DIMENSION", "3072")
    settings = Settings()
    assert settings.bedrock_embedding_dimension == 3072
    assert settings.embedding_cache == "s3://artifacts/a/cache/embeddings"
    assert prefetch(settings) == []  # a managed model has no weights to fetch, and is allowed in production
    monkeypatch.setenv("PRISM_BEDROCK_EMBEDDING_DIMENSION", "512")
    with pytest.raises(ValueError):
        Settings()


def test_a_client_without_a_region_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    with pytest.raises(EmbeddingError, match="PRISM_BEDROCK_REGION"):
        BedrockImageEmbedder(SOURCE, options=options(region=None))
