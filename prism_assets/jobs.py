"""Jobs: one job materializes a title's whole asset graph for one partition."""

from dagster import AssetSelection, ExecutorDefinition, define_asset_job

from prism.settings import Profile, Settings
from prism_assets.assets import PER_TITLE_ASSETS

PROCESS_TITLE = "process_title"

process_title_job = define_asset_job(
    PROCESS_TITLE,
    selection=AssetSelection.assets(*PER_TITLE_ASSETS),
    description="Materialize every per-title asset of one title (one partition).",
)


def executor_for(settings: Settings) -> ExecutorDefinition:
    """Production: every step its own ECS task (GPU steps on the GPU capacity provider).

    Locally the executor of ``prism run`` for runs the daemon or the UI launch too: the ready
    steps on threads of the run worker, so the imports and every model load are paid once per
    run, not once per step as under Dagster's multiprocess executor (a process per step). The
    ``ecs/*`` op tags are inert there.
    """
    if settings.profile is Profile.production:
        from prism_assets.ecs import prism_ecs_executor  # imports dagster_aws.ecs only when needed

        return prism_ecs_executor
    from prism_assets.executor import threaded_in_process_executor

    budget = settings.threads
    return threaded_in_process_executor(budget.concurrent_steps, threads_per_step=budget.per_step,
                                        release_models=settings.model_residency == "run")
