"""The local run launcher: Dagster's default one, plus a health check of the run's worker.

Dagster's ``DefaultRunLauncher`` (``dagster dev``, ``dagster-daemon``) starts each run in a
subprocess of the code server. While that code server lives it fails a run whose worker died;
when it is gone too (a crash, ``dagster dev`` killed with its children, the OOM killer) nothing
is left to notice, the launcher cannot tell the run monitoring daemon whether the worker lives,
and the run stays STARTED for ever, holding its delivery as "in progress". Prism's executor
records the worker in the run's ``prism/worker`` tag (prism.liveness token: host, pid, start
time) when it starts; this launcher reads it, and the run monitoring daemon (enabled in the
embedded ``dagster.yaml``, prism.instance) marks a run whose worker is gone failed with the
reason. Production uses the ``EcsRunLauncher`` and its own health check (deploy/dagster.yaml).
"""

from __future__ import annotations

from dagster import DagsterRun, DefaultRunLauncher
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus

from prism_assets.processed import dead_worker


class LocalRunLauncher(DefaultRunLauncher):
    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        # A run whose worker has not recorded itself yet (it is still importing) is not judged.
        reason = dead_worker(run)
        if reason:
            return CheckRunHealthResult(WorkerStatus.FAILED, reason)
        return CheckRunHealthResult(WorkerStatus.RUNNING)
