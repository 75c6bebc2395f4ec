"""The one model registry (resources.models): one load per key, parallel loads of different
models, failed loads not kept."""

import threading
import time

import pytest

from resources.models import ModelRegistry


def test_a_model_is_loaded_once_however_many_threads_ask():
    registry, calls = ModelRegistry(), []

    def load():
        calls.append(1)
        time.sleep(0.2)  # a slow load: every other thread arrives while it runs
        return object()

    got = []
    threads = [threading.Thread(target=lambda: got.append(registry.get(("asr", "base"), load)))
               for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len({id(m) for m in got}) == 1 and len(got) == 6
    assert registry.loaded() == [("asr", "base")]


def test_different_models_load_at_the_same_time():
    registry = ModelRegistry()
    inside = threading.Barrier(2, timeout=10)  # both loads must be running at once to pass

    def load(name):
        def run():
            inside.wait()
            return name
        return run

    results = {}
    threads = [threading.Thread(target=lambda n=n: results.update({n: registry.get(n, load(n))}))
               for n in ("whisper", "ocr-detector")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {"whisper": "whisper", "ocr-detector": "ocr-detector"}


def test_a_failed_load_is_retried_on_the_next_request():
    registry, attempts = ModelRegistry(), []

    def flaky():
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("model store unreachable")
        return "model"

    with pytest.raises(OSError, match="unreachable"):
        registry.get("k", flaky)
    assert registry.loaded() == []
    assert registry.get("k", flaky) == "model" and len(attempts) == 2
    registry.clear()
    assert registry.loaded() == []
