"""Whether a delivery was already processed, whoever launched it (CLI, sensor, batch)."""

from dagster import AssetKey, AssetRecordsFilter, DagsterInstance

from prism.intake.inbox import Delivery


def delivery_already_processed(instance: DagsterInstance, delivery: Delivery) -> bool:
    """True when the title's latest `delivery` materialization came from this exact manifest."""
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey("delivery"), asset_partitions=[delivery.title_id]),
        limit=1,
    ).records
    if not records:
        return False
    digest = records[0].asset_materialization.metadata.get("manifest_sha256")
    return digest is not None and digest.value == delivery.digest
