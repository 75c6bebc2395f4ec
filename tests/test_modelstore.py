"""Model weights prefetched from a real S3 model store at container start; hub ids refused in
production."""

import subprocess
import sys

import pytest

from prism.modelstore import ModelStoreError, prefetch
from prism.settings import Settings

pytestmark = pytest.mark.services  # a real S3 server (SeaweedFS)

WEIGHTS = {"config.json": b'{"d_model": 32}', "tokenizer/vocab.json": b'{"a": 0}',
           "model.safetensors": bytes(range(256)) * 64}


@pytest.fixture
def model_store(s3_bucket, s3_server, prism_home, tmp_path, monkeypatch):
    client = s3_server.client()
    for name, data in WEIGHTS.items():
        client.put_object(Bucket=s3_bucket, Key=f"models/tiny-asr/{name}", Body=data)
    source = f"s3://{s3_bucket}/models/tiny-asr"
    monkeypatch.setenv("PRISM_ASR_MODEL_SOURCE", source)
    monkeypatch.setenv("PRISM_MODEL_CACHE_DIR", str(tmp_path / "model-cache"))
    return source


def test_s3_model_source_is_copied_once_and_refreshed_when_it_changes(model_store, s3_bucket, s3_server,
                                                                      tmp_path):
    (first,) = prefetch(Settings())
    assert first.env_var == "PRISM_ASR_MODEL_SOURCE" and first.source == model_store
    assert first.local_dir == tmp_path / "model-cache" / s3_bucket / "models" / "tiny-asr"
    assert (first.files, first.downloaded) == (3, 3)
    for name, data in WEIGHTS.items():
        assert (first.local_dir / name).read_bytes() == data
    assert not list(first.local_dir.rglob("*.partial"))

    (again,) = prefetch(Settings())
    assert (again.files, again.downloaded) == (3, 0)  # a restarted task reuses its cache
    s3_server.client().put_object(Bucket=s3_bucket, Key="models/tiny-asr/config.json",
                                  Body=b'{"d_model": 64, "layers": 2}')
    (changed,) = prefetch(Settings())
    assert changed.downloaded == 1
    assert (changed.local_dir / "config.json").read_bytes() == b'{"d_model": 64, "layers": 2}'


def test_empty_model_source_fails_clearly(model_store, s3_bucket, monkeypatch):
    monkeypatch.setenv("PRISM_ASR_MODEL_SOURCE", f"s3://{s3_bucket}/models/missing")
    with pytest.raises(ModelStoreError, match="holds no files"):
        prefetch(Settings())


def test_production_refuses_hub_ids(prism_home, monkeypatch, tmp_path):
    monkeypatch.setenv("PRISM_TEXT_MODEL_SOURCE", "sentence-transformers/all-MiniLM-L6-v2")
    assert prefetch(Settings()) == []  # locally a hub id passes through (a hub may be reachable)
    monkeypatch.setenv("PRISM_PROFILE", "production")
    monkeypatch.setenv("PRISM_STORAGE_URI", "s3://prism-artifacts/artifacts")
    monkeypatch.setenv("PRISM_INBOX_URI", "s3://prism-media/inbox")
    with pytest.raises(ModelStoreError, match="never from a hub"):
        prefetch(Settings())
    baked = tmp_path / "baked-model"
    baked.mkdir()
    monkeypatch.setenv("PRISM_TEXT_MODEL_SOURCE", str(baked))  # weights baked into the image
    assert prefetch(Settings()) == []


def test_entrypoint_prefetches_then_runs_the_command_on_the_local_copy(model_store, tmp_path):
    import os

    shown = subprocess.run(
        [sys.executable, "-m", "prism.modelstore", "exec", "--", sys.executable, "-c",
         "import os; print(os.environ['PRISM_ASR_MODEL_SOURCE'])"],
        capture_output=True, text=True, env=os.environ.copy(), check=True, timeout=120)
    local = shown.stdout.strip()
    assert local.startswith(str(tmp_path / "model-cache"))
    assert sorted(p.name for p in (tmp_path / "model-cache").rglob("*") if p.is_file()) == [
        "config.json", "model.safetensors", "vocab.json"]
    assert "downloaded" in shown.stderr


def test_asr_resource_resolves_an_s3_source_to_the_same_local_copy(model_store, s3_bucket, s3_server,
                                                                   tmp_path):
    from prism.audio.asr import ModelUnavailable
    from resources.audio import AsrModel

    def asr(source):
        return AsrModel(source=source, cache_dir=str(tmp_path / "model-cache"),
                        s3_endpoint_url=s3_server.endpoint_url)

    # A local run that meets an s3:// source uses the prefetch's copier and its cache layout.
    local = asr(model_store).resolve_source()
    (prefetched,) = prefetch(Settings())
    assert local == str(prefetched.local_dir) and prefetched.downloaded == 0
    assert (prefetched.local_dir / "config.json").read_bytes() == WEIGHTS["config.json"]
    with pytest.raises(ModelUnavailable, match="PRISM_ASR_MODEL_SOURCE"):
        asr(f"s3://{s3_bucket}/models/missing").resolve_source()


def test_embedding_models_load_from_an_s3_source(s3_bucket, s3_server, prism_home, tmp_path, monkeypatch):
    """The embedding resources take the same s3:// sources as ASR, through the same copier."""
    from tiny_models import build_tiny_sentence_model

    from prism.embeddings.base import EmbeddingError
    from prism_assets.resources import build_resources

    local = build_tiny_sentence_model(tmp_path / "tiny-text")
    client = s3_server.client()
    for path in local.rglob("*"):
        if path.is_file():
            client.upload_file(str(path), s3_bucket, f"models/tiny-text/{path.relative_to(local).as_posix()}")
    monkeypatch.setenv("PRISM_TEXT_MODEL_SOURCE", f"s3://{s3_bucket}/models/tiny-text")
    monkeypatch.setenv("PRISM_MODEL_CACHE_DIR", str(tmp_path / "cache"))
    embedder = build_resources(Settings())["text_embedding"].embedder()
    assert embedder.embed_texts(["a line of dialogue"]).shape == (1, embedder.dim)
    assert (tmp_path / "cache" / s3_bucket / "models" / "tiny-text" / "config.json").is_file()

    monkeypatch.setenv("PRISM_VISUAL_MODEL_SOURCE", f"s3://{s3_bucket}/models/missing")
    with pytest.raises(EmbeddingError, match="PRISM_VISUAL_MODEL_SOURCE"):
        build_resources(Settings())["visual_embedding"].embedder()
