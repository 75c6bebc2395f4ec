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


def executor_for(settings: Settings) -> ExecutorDefinition | None:
    """Production: every step its own ECS task (GPU steps on the GPU capacity provider).

    Locally ``None``: Dagster's default (multiprocess under the daemon/UI; ``prism run``
    executes in-process), where the ``ecs/*`` op tags are inert.
    """
    if settings.profile is Profile.production:
        from prism_assets.ecs import prism_ecs_executor  # imports dagster_aws.ecs only when needed

        return prism_ecs_executor
    return None
