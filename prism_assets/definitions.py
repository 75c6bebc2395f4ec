"""The one place where Prism's Dagster definitions are assembled."""

from __future__ import annotations

from dagster import Definitions

from prism.settings import Settings, get_settings
from prism_assets.assets import PER_TITLE_ASSETS
from prism_assets.jobs import executor_for, process_title_job
from prism_assets.resources import build_resources
from prism_assets.schedules import daily_delivery_batch
from prism_assets.sensors import delivery_sensor


def build_definitions(settings: Settings | None = None) -> Definitions:
    settings = settings or get_settings()
    return Definitions(
        assets=PER_TITLE_ASSETS,
        jobs=[process_title_job],
        sensors=[delivery_sensor],
        schedules=[daily_delivery_batch],
        resources=build_resources(settings),
        executor=executor_for(settings),
    )


defs = build_definitions()
