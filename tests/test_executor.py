"""The executor of `prism run`: independent steps run at once on threads of one process, with the
results, events, failures and skips of Dagster's own (serial) in-process executor."""

import threading

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    DagsterEventType,
    DagsterInstance,
    Definitions,
    Failure,
    MaterializeResult,
    asset,
    define_asset_job,
)

from prism_assets.executor import execute_in_process_threaded

STEP_EVENTS = {DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE,
               DagsterEventType.STEP_SKIPPED, DagsterEventType.ASSET_MATERIALIZATION,
               DagsterEventType.ASSET_CHECK_EVALUATION}


def _job(*assets):
    defs = Definitions(assets=list(assets), jobs=[define_asset_job("all", selection="*")])
    return defs.resolve_job_def("all")


def _trace(result) -> set[tuple[str, str]]:
    return {(e.step_key, e.event_type_value) for e in result.all_events if e.event_type in STEP_EVENTS}


def test_independent_branches_run_at_the_same_time():
    both_running = threading.Barrier(2)  # passes only when the two branches are in flight together
    threads: dict[str, str] = {}

    @asset
    def source() -> MaterializeResult:
        return MaterializeResult()

    @asset(deps=[source])
    def visual() -> MaterializeResult:
        threads["visual"] = threading.current_thread().name
        both_running.wait(timeout=60)
        return MaterializeResult()

    @asset(deps=[source])
    def audio() -> MaterializeResult:
        threads["audio"] = threading.current_thread().name
        both_running.wait(timeout=60)
        return MaterializeResult()

    @asset(deps=[visual, audio])
    def bundle() -> MaterializeResult:
        return MaterializeResult()

    result = execute_in_process_threaded(_job(source, visual, audio, bundle),
                                         instance=DagsterInstance.ephemeral(), max_concurrent=2)
    assert result.success
    assert threads["visual"] != threads["audio"]
    materialized = [e.asset_key.to_user_string() for e in result.all_events
                    if e.event_type == DagsterEventType.ASSET_MATERIALIZATION]
    assert materialized[0] == "source" and materialized[-1] == "bundle"
    assert set(materialized) == {"source", "visual", "audio", "bundle"}


def test_failures_and_blocking_checks_stop_what_depends_on_them_as_in_process():
    @asset
    def probe() -> MaterializeResult:
        return MaterializeResult()

    @asset(deps=[probe])
    def broken() -> MaterializeResult:
        raise Failure(description="title t-1: the audio stream is truncated at 00:12:04")

    @asset(deps=[broken])
    def after_broken() -> MaterializeResult:
        return MaterializeResult()

    @asset(deps=[probe], check_specs=[AssetCheckSpec("tiles", asset="checked", blocking=True)])
    def checked():
        yield MaterializeResult()
        yield AssetCheckResult(check_name="tiles", passed=False)

    @asset(deps=[checked])
    def after_checked() -> MaterializeResult:
        return MaterializeResult()

    @asset(deps=[probe])
    def healthy() -> MaterializeResult:
        return MaterializeResult()

    job = _job(probe, broken, after_broken, checked, after_checked, healthy)
    serial = job.execute_in_process(instance=DagsterInstance.ephemeral(), raise_on_error=False)
    threaded = execute_in_process_threaded(job, instance=DagsterInstance.ephemeral(), max_concurrent=3)
    assert not threaded.success and not serial.success
    assert _trace(threaded) == _trace(serial)
    started = {step for step, kind in _trace(threaded) if kind == "STEP_START"}
    assert "after_broken" not in started and "after_checked" not in started
    assert ("healthy", "STEP_SUCCESS") in _trace(threaded)
    failure = next(e for e in threaded.all_events if e.event_type == DagsterEventType.STEP_FAILURE)
    assert failure.step_key == "broken"
    assert "truncated at 00:12:04" in failure.step_failure_data.user_failure_data.description


def test_thread_budget_shares_the_cores_among_concurrent_steps(prism_home):
    from prism.settings import Settings
    from prism.threads import thread_budget
    from prism_assets.resources import build_resources

    assert thread_budget(cores=2) == thread_budget(2, 1, cores=2)  # visual + audio, a core each
    assert (thread_budget(cores=1).concurrent_steps, thread_budget(cores=1).per_step) == (1, 1)
    assert (thread_budget(cores=16).concurrent_steps, thread_budget(cores=16).per_step) == (4, 4)
    assert thread_budget(0, 8, cores=16).per_step == 8  # PRISM_THREADS_PER_STEP wins
    resources = build_resources(Settings(run_concurrency=1, threads_per_step=3))
    assert resources["asr"].cpu_threads == 3 and resources["onscreen_text_model"].threads == 3
    assert resources["text_embedding"].threads == 3 and resources["diarization"].threads == 3
