"""Amazon Bedrock embeddings (Amazon Nova Multimodal Embeddings) behind the two embedding interfaces.

Chosen by a model source ``bedrock:<model id>`` in ``PRISM_VISUAL_MODEL_SOURCE`` and/or
``PRISM_TEXT_MODEL_SOURCE``, e.g. ``bedrock:amazon.nova-2-multimodal-embeddings-v1:0``; the width is
``PRISM_BEDROCK_EMBEDDING_DIMENSION`` (256, 384, 1024 or 3072). Nova puts text and images in one
space, so the same model on both settings lets a line of dialogue and a shot be compared.

The request is one ``InvokeModel`` per input (the synchronous API embeds one item per call), in
the shape of the Nova user guide's "Complete embeddings request and response schema"
(docs.aws.amazon.com/nova/latest/userguide/embeddings-schema.html)::

    {"taskType": "SINGLE_EMBEDDING",
     "singleEmbeddingParams": {"embeddingPurpose": "GENERIC_INDEX", "embeddingDimension": 1024,
                               "image": {"format": "jpeg", "source": {"bytes": "<base64>"}}}}
    ... or "text": {"truncationMode": "END", "value": "..."}
    → {"embeddings": [{"embeddingType": "IMAGE", "embedding": [0.01, ...]}]}

- Purposes: what is stored (keyframes, transcript lines) is embedded with ``GENERIC_INDEX``; a
  search query with the retrieval purpose of what it searches (``IMAGE_RETRIEVAL`` over shots,
  ``TEXT_RETRIEVAL`` over lines), as the guide advises.
- Only derived stills (keyframes, re-encoded as JPEG) and text are ever sent; this module has no
  audio or video path at all.
- Requests run on a bounded thread pool (``PRISM_BEDROCK_MAX_CONCURRENCY``); throttling and
  transient errors are retried by botocore's adaptive retry mode (client-side rate limiting plus
  exponential backoff with jitter, ``PRISM_BEDROCK_MAX_ATTEMPTS`` attempts).
- Vectors are cached by content hash (prism.embeddings.cache), so a re-run sends nothing.
- ``usage`` counts calls, images, characters, cache hits and retries; the assets report the
  difference per materialization.
- The model id recorded on the vector tables is ``bedrock:<model id>:<dimension>``: another model
  or another width is a model change under ``PRISM_VECTORS_ON_MODEL_CHANGE``.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import threading
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
from PIL import Image

from prism.embeddings.base import EmbeddingError, l2_normalize
from prism.embeddings.cache import VectorCache, cache_key, image_digest, text_digest
from prism.embeddings.runtime import check_texts

log = logging.getLogger(__name__)

BEDROCK_PREFIX = "bedrock:"
NOVA_DIMENSIONS = (256, 384, 1024, 3072)
INDEX_PURPOSE = "GENERIC_INDEX"
IMAGE_QUERY_PURPOSE = "IMAGE_RETRIEVAL"  # a text query over stored images (shots)
TEXT_QUERY_PURPOSE = "TEXT_RETRIEVAL"  # a text query over stored text (transcript lines)
JPEG_QUALITY = 95  # keyframes are already lossy stills; one more generation at 95 changes nothing visible
# Characters of a text sent at most. Nova reads up to 8,192 tokens and truncates the rest itself
# ("truncationMode": "END"); this only bounds what a pathological input makes us upload and pay for.
MAX_TEXT_CHARS = 32_768
DIMENSION_SETTING = "PRISM_BEDROCK_EMBEDDING_DIMENSION"
CONCURRENCY_SETTING = "PRISM_BEDROCK_MAX_CONCURRENCY"
_THROTTLED = {"ThrottlingException", "ServiceQuotaExceededException", "TooManyRequestsException"}
_UNKNOWN_MODEL = {"ValidationException", "ResourceNotFoundException"}


@dataclass(frozen=True)
class BedrockOptions:
    """How to reach Bedrock and how hard to push it (from ``PRISM_BEDROCK_*``)."""

    dimension: int = 1024
    max_concurrency: int = 8
    max_attempts: int = 8
    region: str | None = None
    endpoint_url: str | None = None
    cache_uri: str | None = None  # None: no cache (search queries)
    cache_storage_options: dict[str, Any] = field(default_factory=dict)


@dataclass
class BedrockUsage:
    """What was sent to Bedrock (cumulative for the embedder's life; thread-safe)."""

    calls: int = 0  # InvokeModel requests answered (retries not counted)
    images: int = 0
    characters: int = 0
    cache_hits: int = 0
    retries: int = 0  # attempts botocore repeated (throttling, transient errors)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}

    def since(self, before: dict[str, int]) -> dict[str, int]:
        now = self.snapshot()
        return {k: now[k] - before.get(k, 0) for k in now}


def is_bedrock_source(source: str | None) -> bool:
    return bool(source) and source.strip().startswith(BEDROCK_PREFIX)


def bedrock_model(source: str, setting: str) -> str:
    """The Bedrock model id of a ``bedrock:<model id>`` source."""
    model = source.strip()[len(BEDROCK_PREFIX):]
    if not model or any(c.isspace() for c in model):
        raise EmbeddingError(f"{setting}={source!r}: expected bedrock:<model id>, e.g. "
                             "bedrock:amazon.nova-2-multimodal-embeddings-v1:0")
    return model


def make_client(options: BedrockOptions, setting: str) -> Any:
    """A ``bedrock-runtime`` client: adaptive retries, a connection per concurrent request."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError

    config = Config(retries={"mode": "adaptive", "total_max_attempts": options.max_attempts},
                    max_pool_connections=options.max_concurrency, connect_timeout=10, read_timeout=60,
                    user_agent_extra="prism-embeddings")
    try:
        return boto3.client("bedrock-runtime", region_name=options.region, endpoint_url=options.endpoint_url,
                            config=config)
    except BotoCoreError as exc:  # NoRegionError and the like
        raise EmbeddingError(f"cannot create a Bedrock client for {setting}: {exc} "
                             "(set PRISM_BEDROCK_REGION or AWS_REGION)") from exc


def _jpeg(image: Image.Image) -> bytes:
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    out = io.BytesIO()
    rgb.save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


@dataclass(frozen=True)
class _Input:
    kind: str  # "image" | "text"
    purpose: str
    content: Image.Image | str
    key: str


class _BedrockEmbedder:
    """What both embedders share: one client, one bounded pool, the cache and the usage counters."""

    def __init__(self, source: str, *, options: BedrockOptions, setting: str, client: Any = None):
        self.setting = setting
        self.model = bedrock_model(source, setting)
        if options.dimension not in NOVA_DIMENSIONS:
            raise EmbeddingError(f"{DIMENSION_SETTING}={options.dimension}: Nova Multimodal Embeddings "
                                 f"produces {', '.join(map(str, NOVA_DIMENSIONS))}-dimensional vectors")
        if options.max_concurrency < 1:
            raise EmbeddingError(f"{CONCURRENCY_SETTING} must be at least 1")
        self.options = options
        self.dim = options.dimension
        self.model_id = f"{BEDROCK_PREFIX}{self.model}:{self.dim}"
        self.source = source
        self.device = "bedrock"
        self.usage = BedrockUsage()
        self._client = client if client is not None else make_client(options, setting)
        self._pool = ThreadPoolExecutor(max_workers=options.max_concurrency, thread_name_prefix="bedrock")
        self._cache = (VectorCache(options.cache_uri, self.model, self.dim, options.cache_storage_options)
                       if options.cache_uri else None)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(model_id={self.model_id!r}, "
                f"concurrency={self.options.max_concurrency}, cache={self._cache!r})")

    # -- requests ------------------------------------------------------------------------------
    def _body(self, item: _Input) -> tuple[bytes, int, int]:
        """(InvokeModel body, images sent, characters sent)."""
        params: dict[str, Any] = {"embeddingPurpose": item.purpose, "embeddingDimension": self.dim}
        if item.kind == "image":
            data = base64.b64encode(_jpeg(item.content)).decode("ascii")
            params["image"] = {"format": "jpeg", "source": {"bytes": data}}
            sent = (1, 0)
        else:
            params["text"] = {"truncationMode": "END", "value": item.content}
            sent = (0, len(item.content))
        body = {"taskType": "SINGLE_EMBEDDING", "singleEmbeddingParams": params}
        return json.dumps(body).encode("utf-8"), *sent

    def _invoke(self, body: bytes) -> dict:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self._client.invoke_model(modelId=self.model, body=body, contentType="application/json",
                                                 accept="application/json")
        except ClientError as exc:
            raise self._client_error(exc) from exc
        except BotoCoreError as exc:  # no credentials, endpoint unreachable, ...
            raise EmbeddingError(f"Amazon Bedrock ({self.model}, set by {self.setting}) cannot be reached: "
                                 f"{exc}") from exc
        retries = int(response.get("ResponseMetadata", {}).get("RetryAttempts", 0) or 0)
        self.usage.add(calls=1, retries=retries)
        try:
            return json.loads(response["body"].read())
        except (KeyError, ValueError) as exc:
            raise EmbeddingError(
                f"Amazon Bedrock ({self.model}) answered with a body that is not JSON: {exc}") from exc

    def _client_error(self, exc: Any) -> EmbeddingError:
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "?"), error.get("Message", str(exc))
        where = f"model {self.model!r} (set by {self.setting})"
        if code == "AccessDeniedException":
            return EmbeddingError(
                f"Amazon Bedrock denied access to {where}: {code}: {message}. The worker role needs "
                f"bedrock:InvokeModel on this model's ARN (infra/: the stage's model_sources) and the model "
                "must be enabled for the account in this region.")
        if code in _UNKNOWN_MODEL:
            return EmbeddingError(
                f"Amazon Bedrock rejected the request for {where}: {code}: {message}. Check that "
                f"{self.setting} names a Nova Multimodal Embeddings model offered in this region and that "
                f"{DIMENSION_SETTING}={self.dim} is one of its dimensions.")
        if code in _THROTTLED:
            return EmbeddingError(
                f"Amazon Bedrock kept throttling {where} after {self.options.max_attempts} attempts "
                f"({code}: {message}); lower {CONCURRENCY_SETTING} or raise the account's InvokeModel quota.")
        return EmbeddingError(f"Amazon Bedrock failed for {where}: {code}: {message}")

    def _vector(self, payload: Any, kind: str) -> np.ndarray:
        entries = payload.get("embeddings") if isinstance(payload, dict) else None
        if not entries:
            raise EmbeddingError(f"Amazon Bedrock ({self.model}) answered without embeddings: "
                                 f"{str(payload)[:200]}")
        wanted = kind.upper()
        entry = next((e for e in entries if e.get("embeddingType") == wanted), entries[0])
        vector = np.asarray(entry.get("embedding", []), dtype=np.float32)
        if vector.shape != (self.dim,) or not np.isfinite(vector).all():
            raise EmbeddingError(f"Amazon Bedrock ({self.model}) returned a {kind} vector of shape "
                                 f"{vector.shape}, expected ({self.dim},) finite values")
        return vector

    def _embed_one(self, item: _Input) -> np.ndarray:
        # The cache saves money, it is not needed for a right answer: a storage error reading or
        # writing it (after prism.storage's retries) costs a request, never the title.
        if self._cache is not None:
            try:
                cached = self._cache.get(item.key)
            except Exception as exc:
                log.warning("embedding cache read failed (%s); asking Bedrock", exc)
                cached = None
            if cached is not None:
                self.usage.add(cache_hits=1)
                return cached
        body, images, characters = self._body(item)
        vector = self._vector(self._invoke(body), item.kind)
        self.usage.add(images=images, characters=characters)
        if self._cache is not None:
            try:
                self._cache.put(item.key, vector)
            except Exception as exc:
                log.warning("embedding cache write failed (%s); the vector is used but not cached", exc)
        return vector

    def _embed(self, items: list[_Input]) -> np.ndarray:
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        unique: dict[str, _Input] = {}
        for item in items:
            unique.setdefault(item.key, item)  # the same still or line twice in a call: one request
        futures: dict[str, Future] = {key: self._pool.submit(self._embed_one, item)
                                      for key, item in unique.items()}
        done, pending = wait(futures.values(), return_when=FIRST_EXCEPTION)
        failed = next((f for f in done if f.exception() is not None), None)
        if failed is not None:
            for future in pending:
                future.cancel()  # do not keep paying for a title that has already failed
            wait(pending)
            raise failed.exception()
        vectors = {key: future.result() for key, future in futures.items()}
        return l2_normalize(np.stack([vectors[item.key] for item in items]))

    def _image_inputs(self, images: Sequence[Image.Image], purpose: str) -> list[_Input]:
        for i, image in enumerate(images):
            if not isinstance(image, Image.Image):
                raise EmbeddingError(f"image #{i} is {type(image).__name__}, not a PIL image")
        # ~14 ms per 1080p still, hashlib releases the GIL: hashed on the pool too.
        digests = list(self._pool.map(image_digest, images))
        return [_Input("image", purpose, image, cache_key(self.model, self.dim, purpose, digest))
                for image, digest in zip(images, digests, strict=True)]

    def _text_inputs(self, texts: Sequence[str], purpose: str, what: str) -> list[_Input]:
        items = []
        for i, text in enumerate(check_texts(texts)):
            if not text.strip():
                raise EmbeddingError(f"{what} #{i} is blank: Bedrock embeds text with at least one word")
            text = text[:MAX_TEXT_CHARS]
            key = cache_key(self.model, self.dim, purpose, text_digest(text))
            items.append(_Input("text", purpose, text, key))
        return items

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class BedrockImageEmbedder(_BedrockEmbedder):
    """``ImageEmbedder`` over a Bedrock multimodal model: keyframes for the index, text queries for
    retrieval over them (so text → shot search works, in any language the model reads)."""

    has_text_tower = True

    def __init__(self, source: str, *, options: BedrockOptions, setting: str = "PRISM_VISUAL_MODEL_SOURCE",
                 client: Any = None, query_purpose: str = IMAGE_QUERY_PURPOSE):
        super().__init__(source, options=options, setting=setting, client=client)
        self.query_purpose = query_purpose

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        return self._embed(self._image_inputs(list(images), INDEX_PURPOSE))

    def embed_text_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(self._text_inputs(texts, self.query_purpose, "text query"))


class BedrockTextEmbedder(_BedrockEmbedder):
    """``TextEmbedder`` over a Bedrock model: transcript lines for the index; ``embed_text_queries``
    embeds a search query with the retrieval purpose (prism.vectors.search uses it when present)."""

    def __init__(self, source: str, *, options: BedrockOptions, setting: str = "PRISM_TEXT_MODEL_SOURCE",
                 client: Any = None, query_purpose: str = TEXT_QUERY_PURPOSE):
        super().__init__(source, options=options, setting=setting, client=client)
        self.query_purpose = query_purpose

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(self._text_inputs(texts, INDEX_PURPOSE, "text"))

    def embed_text_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(self._text_inputs(texts, self.query_purpose, "text query"))
