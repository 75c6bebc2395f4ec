"""What the Dagster instance knows about titles: materializations, checks and last runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from dagster import (
    AssetCheckSeverity,
    AssetKey,
    AssetRecordsFilter,
    DagsterEventType,
    DagsterInstance,
    JsonMetadataValue,
    MetadataValue,
    RunsFilter,
    TableMetadataValue,
    TimestampMetadataValue,
)

from prism_assets.assets import PER_TITLE_ASSETS
from prism_assets.partitions import titles

PARTITION_TAG = "dagster/partition"


@dataclass
class AssetStatus:
    asset: str
    materialized_at: datetime | None = None
    run_id: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    checks: dict[str, bool] = field(default_factory=dict)
    # Checks whose failure means the data is wrong (ERROR); the others (content_qc) are verdicts.
    error_checks: set[str] = field(default_factory=set)


@dataclass
class TitleStatus:
    title_id: str
    assets: list[AssetStatus]
    last_run_id: str | None
    last_run_status: str | None

    @property
    def complete(self) -> bool:
        return all(a.materialized_at for a in self.assets) and self.checks_pass

    @property
    def checks_pass(self) -> bool:
        return all(ok for a in self.assets for name, ok in a.checks.items() if name in a.error_checks)

    @property
    def qc_status(self) -> str | None:
        """The title's content-QC verdict (pass/fail) from the latest `qc` materialization."""
        return next((a.metadata.get("status") for a in self.assets if a.asset == "qc"), None)


def _shown(value: MetadataValue) -> str | None:
    """One line of text for a metadata value; None for structured previews (JSON, tables)."""
    if isinstance(value, TimestampMetadataValue):
        return datetime.fromtimestamp(value.value, UTC).isoformat(timespec="seconds")
    if isinstance(value, (JsonMetadataValue, TableMetadataValue)):
        return None
    return str(value.value)


def per_title_asset_keys() -> list[AssetKey]:
    return [key for a in PER_TITLE_ASSETS for key in a.keys]


def title_status(instance: DagsterInstance, title_id: str) -> TitleStatus:
    assets = []
    for key in per_title_asset_keys():
        status = AssetStatus(asset=key.to_user_string())
        records = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=key, asset_partitions=[title_id]), limit=1).records
        if records:
            record = records[0]
            status.materialized_at = datetime.fromtimestamp(record.timestamp, UTC)
            status.run_id = record.run_id
            shown = {k: _shown(v) for k, v in record.asset_materialization.metadata.items()}
            status.metadata = {k: v for k, v in shown.items() if v is not None}
            for entry in instance.all_logs(record.run_id,
                                           of_type=DagsterEventType.ASSET_CHECK_EVALUATION):
                data = entry.dagster_event.asset_check_evaluation_data
                if data.asset_key == key:
                    status.checks[data.check_name] = data.passed
                    if data.severity == AssetCheckSeverity.ERROR:
                        status.error_checks.add(data.check_name)
        assets.append(status)
    runs = instance.get_runs(filters=RunsFilter(tags={PARTITION_TAG: title_id}), limit=1)
    last = runs[0] if runs else None
    return TitleStatus(title_id, assets, last.run_id if last else None,
                       last.status.value if last else None)


def known_titles(instance: DagsterInstance) -> list[str]:
    return sorted(instance.get_dynamic_partitions(titles.name))
