"""Jobs: one job materializes a title's whole asset graph for one partition."""

from dagster import AssetSelection, define_asset_job

from prism_assets.assets import PER_TITLE_ASSETS

PROCESS_TITLE = "process_title"

process_title_job = define_asset_job(
    PROCESS_TITLE,
    selection=AssetSelection.assets(*PER_TITLE_ASSETS),
    description="Materialize every per-title asset of one title (one partition).",
)
