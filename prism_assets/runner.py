"""Run one title's whole asset graph in-process, through the same Definitions the UI loads.

Used by ``prism run`` and by tests: the run, its materializations and check
results land in the real Dagster instance (the embedded SQLite one by default),
so ``prism status`` and the UI show them afterwards. Independent branches run at
once on threads of this process (prism_assets.executor), each model loaded once,
with each library's threads sized by the settings' budget (prism.threads).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from dagster import (
    AssetCheckSeverity,
    AssetSelection,
    DagsterEvent,
    DagsterEventType,
    DagsterInstance,
    EventLogEntry,
)
from dagster._core.utils import make_new_run_id

from prism.ids import validate_title_id
from prism.intake.inbox import Delivery
from prism.liveness import process_token
from prism.settings import Settings, get_settings
from prism.threads import limit_pools
from prism_assets.definitions import build_definitions
from prism_assets.executor import execute_in_process_threaded
from prism_assets.jobs import PROCESS_TITLE
from prism_assets.partitions import titles
from prism_assets.processed import fail_dead_runs
from prism_assets.resources import build_resources
from prism_assets.tags import WORKER, delivery_tags


class NoDelivery(LookupError):
    """The title has no valid delivery manifest in the inbox."""


@dataclass
class StepProgress:
    """What a watcher sees: one record per Dagster event that matters to a person."""

    kind: str  # step_start | step_success | step_failure | materialization | check
    step: str
    message: str = ""
    passed: bool | None = None
    blocking: bool = False  # a failed check that stops the pipeline (ERROR severity), not a content verdict


@dataclass
class TitleRunOutcome:
    run_id: str
    title_id: str
    success: bool
    delivery: Delivery
    failures: list[str] = field(default_factory=list)
    materialized: list[str] = field(default_factory=list)
    checks: dict[str, bool] = field(default_factory=dict)
    failed_error_checks: list[str] = field(default_factory=list)


def _progress_of(event: DagsterEvent) -> StepProgress | None:
    step = event.step_key or ""
    match event.event_type:
        case DagsterEventType.STEP_START:
            return StepProgress("step_start", step)
        case DagsterEventType.STEP_SUCCESS:
            return StepProgress("step_success", step)
        case DagsterEventType.STEP_FAILURE:
            error = event.step_failure_data.error if event.step_failure_data else None
            user = event.step_failure_data.user_failure_data if event.step_failure_data else None
            # An exception raised in the asset arrives wrapped ("Error occurred while executing op
            # ..."): the person needs the asset's own error (e.g. "artifact disk full: ...").
            while error is not None and error.cls_name == "DagsterExecutionStepExecutionError" and error.cause:
                error = error.cause
            message = (user.description if user and user.description else None) or (
                error.message.strip() if error else event.message or "failed")
            return StepProgress("step_failure", step, message)
        case DagsterEventType.STEP_SKIPPED:
            return StepProgress("step_skipped", step, "skipped: an upstream check or step failed")
        case DagsterEventType.ASSET_MATERIALIZATION:
            return StepProgress("materialization", step, event.asset_key.to_user_string())
        case DagsterEventType.ASSET_CHECK_EVALUATION:
            data = event.asset_check_evaluation_data
            return StepProgress("check", step, data.check_name, passed=data.passed,
                                blocking=data.severity == AssetCheckSeverity.ERROR)
    return None


def find_delivery(title_id: str, settings: Settings, manifest_key: str | None = None) -> Delivery:
    inbox = build_resources(settings)["inbox"].inbox()
    found = inbox.load_key(manifest_key) if manifest_key else inbox.latest_for_title(title_id)
    if found is None:
        raise NoDelivery(
            f"no valid delivery manifest for title {title_id!r} in {inbox.uri} "
            f"(deliver it first: prism deliver VIDEO --title-id {title_id})"
        )
    return found


def run_title(
    title_id: str,
    instance: DagsterInstance,
    *,
    settings: Settings | None = None,
    manifest_key: str | None = None,
    on_progress: Callable[[StepProgress], None] | None = None,
    assets: Sequence[str] | None = None,
) -> TitleRunOutcome:
    """Materialize the title's graph (or, with ``assets``, those assets and everything upstream of
    them) in-process, the ready steps on threads of this process."""
    settings = settings or get_settings()
    validate_title_id(title_id)
    delivery = find_delivery(title_id, settings, manifest_key)
    if not instance.has_dynamic_partition(titles.name, title_id):
        instance.add_dynamic_partitions(titles.name, [title_id])
    # An earlier run of this title killed mid-way still reads STARTED: record how it ended.
    fail_dead_runs(instance, {"dagster/partition": title_id})

    defs = build_definitions(settings)
    job = defs.resolve_job_def(PROCESS_TITLE)
    if assets:
        graph = defs.resolve_asset_graph()
        unknown = sorted(set(assets) - {k.to_user_string() for k in graph.get_all_asset_keys()})
        if unknown:
            raise ValueError(f"unknown assets: {', '.join(unknown)}")
        selected = AssetSelection.assets(*assets).upstream().resolve(graph)
        job = job.get_subset(asset_selection=selected)
    run_id = make_new_run_id()
    outcome = TitleRunOutcome(run_id=run_id, title_id=title_id, success=False, delivery=delivery)

    def _listen(entry: EventLogEntry) -> None:
        if entry.dagster_event is None:
            return
        progress = _progress_of(entry.dagster_event)
        if progress is None:
            return
        if progress.kind == "step_failure":
            outcome.failures.append(f"{progress.step}: {progress.message}")
        elif progress.kind == "materialization":
            outcome.materialized.append(progress.message)
        elif progress.kind == "check":
            outcome.checks[progress.message] = bool(progress.passed)
            if not progress.passed and progress.blocking:
                outcome.failed_error_checks.append(progress.message)
        if on_progress:
            on_progress(progress)

    instance.add_event_listener(run_id, _listen)
    budget = settings.threads
    limit_pools(budget.per_step)
    result = execute_in_process_threaded(
        job, instance=instance, partition_key=title_id, run_id=run_id,
        tags={**delivery_tags(delivery, trigger="cli"), WORKER: process_token()},
        max_concurrent=budget.concurrent_steps, release_models=settings.model_residency == "run",
        # Progress reaches the person through on_progress; keep Dagster's console quiet.
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
    # A failed ERROR check means the title's data is wrong (nothing downstream ran on it); a failed
    # WARN check such as content_qc is a verdict on the content, reported but not a failed run.
    outcome.success = result.success and not outcome.failed_error_checks
    return outcome

