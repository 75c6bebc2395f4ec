"""Amazon Bedrock's InvokeModel for Nova Multimodal Embeddings, answered at the HTTP boundary of a
real botocore client.

The client is real: it validates and serializes the request, signs it, and parses the answer and
any error through botocore's own REST-JSON parser and retry handler (adaptive mode). Only the
network is replaced: a ``before-send`` hook answers each request from its JSON body, like the
service would, and records it. Unlike botocore's Stubber (which answers *before* the request is
sent, so botocore's retries never run, and which answers in queue order, so it cannot serve a
thread pool deterministically), this answers by content and lets throttling be retried for real.

Bodies follow the public Nova documentation: the user guide's "Complete embeddings request and
response schema" (docs.aws.amazon.com/nova/latest/userguide/embeddings-schema.html) and the AWS
News Blog launch post "Amazon Nova Multimodal Embeddings" (28 Oct 2025, its Python examples):
request ``{"taskType": "SINGLE_EMBEDDING", "singleEmbeddingParams": {"embeddingPurpose": ...,
"embeddingDimension": ..., "image": {"format": "jpeg", "source": {"bytes": <base64>}}}}`` (or
``"text": {"truncationMode": ..., "value": ...}``), response ``{"embeddings": [{"embeddingType":
"IMAGE" | "TEXT", "embedding": [...]}]}``; errors are REST-JSON (``x-amzn-ErrorType`` header,
``{"message": ...}`` body) with the status codes of the InvokeModel API reference (403
AccessDeniedException, 400 ValidationException, 429 ThrottlingException).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import numpy as np
from botocore.awsrequest import AWSResponse
from PIL import Image

NOVA = "amazon.nova-2-multimodal-embeddings-v1:0"
EVENT = "before-send.bedrock-runtime.InvokeModel"


def nova_answer(vector, kind: str = "IMAGE") -> bytes:
    """A successful InvokeModel body for one embedding, as the Nova docs show it."""
    entry = {"embeddingType": kind, "embedding": [float(v) for v in vector]}
    return json.dumps({"embeddings": [entry]}).encode()


class _Raw(io.BytesIO):
    """What AWSResponse reads its body from (urllib3's response in real life): streamed whole for a
    parsed body, read as a stream for InvokeModel's blob payload."""

    def stream(self, **_: Any):
        yield self.getvalue()


def http_response(status: int, body: bytes, error_type: str | None = None) -> AWSResponse:
    headers = {"Content-Type": "application/json", "x-amzn-RequestId": "00000000-0000-0000-0000-000000000000"}
    if error_type:
        headers["x-amzn-ErrorType"] = f"{error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/"
    return AWSResponse("https://bedrock-runtime.eu-west-1.amazonaws.com", status, headers, _Raw(body))


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def toy_vector(params: dict, dim: int) -> np.ndarray:
    """A deterministic stand-in for Nova's vector, with just enough meaning for search tests:
    an image lands on its mean colour (dims 0-2), a text on the colour words it names (dims 0-2)
    and on its hashed words (dims 3+), so "a red scene" is near a red still and a query shares
    direction with the lines that use its words."""
    vector = np.zeros(dim, dtype=np.float64)
    if "image" in params:
        data = base64.b64decode(params["image"]["source"]["bytes"])
        with Image.open(io.BytesIO(data)) as im:
            mean = np.asarray(im.convert("RGB"), dtype=np.float64).reshape(-1, 3).mean(axis=0) / 255.0
        vector[:3] = mean - mean.mean() + 1e-3
        vector[3 + int(hashlib.sha256(data).hexdigest(), 16) % (dim - 3)] = 0.05
    else:
        for word in _words(params["text"]["value"]):
            if word in ("red", "green", "blue"):
                vector[("red", "green", "blue").index(word)] += 1.0
            else:
                vector[3 + int(hashlib.sha256(word.encode()).hexdigest(), 16) % (dim - 3)] += 1.0
    return vector


@dataclass
class Request:
    model: str
    headers: dict[str, str]
    body: bytes
    doc: dict


@dataclass
class FakeBedrock:
    """Answers ``InvokeModel`` requests of any client whose events it is registered on.

    ``throttle``: answer this many requests (the first ones) with 429 ThrottlingException.
    ``deny``: answer every request with 403 AccessDeniedException.
    ``gate``: hold each request until this many are in flight (or ``gate_timeout_s`` passed), so a
    concurrency limit is reached if the client can reach it, and never exceeded unseen.
    """

    throttle: int = 0
    deny: bool = False
    gate: int = 0
    gate_timeout_s: float = 1.0
    requests: list[Request] = field(default_factory=list)
    attempts: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _changed: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self._changed = threading.Condition(self._lock)

    def register(self, events: Any) -> FakeBedrock:
        events.register(EVENT, self)
        return self

    def bodies(self) -> list[dict]:
        return [r.doc for r in self.requests]

    def __call__(self, request: Any, **_: Any) -> AWSResponse:
        model = unquote(request.url.split("/model/", 1)[1].split("/", 1)[0])
        body = request.body if isinstance(request.body, bytes) else request.body.read()
        with self._changed:
            self.attempts += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self._changed.notify_all()
            if self.gate:
                deadline = time.monotonic() + self.gate_timeout_s
                while self.in_flight < self.gate and time.monotonic() < deadline:
                    self._changed.wait(timeout=max(0.0, deadline - time.monotonic()))
            throttled = self.attempts <= self.throttle
        try:
            if self.deny:
                return http_response(403, json.dumps({"message": "You don't have access to the model with the "
                                                      "specified model ID."}).encode(), "AccessDeniedException")
            if throttled:
                return http_response(429, b'{"message": "Too many requests, please wait before trying again."}',
                                     "ThrottlingException")
            if model != NOVA:
                return http_response(400, b'{"message": "The provided model identifier is invalid."}',
                                     "ValidationException")
            doc = json.loads(body)
            params = doc["singleEmbeddingParams"]
            with self._lock:
                headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
                self.requests.append(Request(model, headers, body, doc))
            kind = "IMAGE" if "image" in params else "TEXT"
            return http_response(200, nova_answer(toy_vector(params, params["embeddingDimension"]), kind))
        finally:
            with self._changed:
                self.in_flight -= 1
                self._changed.notify_all()
