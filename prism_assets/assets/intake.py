"""``delivery``: the accepted manifest of a title, the root of its asset graph."""


from datetime import timedelta

from dagster import (
    AssetExecutionContext,
    DataVersion,
    Failure,
    FreshnessPolicy,
    MaterializeResult,
    MetadataValue,
    asset,
)

from prism.ids import InvalidTitleId
from prism.intake.manifest import ManifestError
from prism_assets.partitions import title_of, titles
from prism_assets.tags import MANIFEST_KEY
from resources import ArtifactStorage, DeliveryInbox


@asset(
    partitions_def=titles,
    group_name="intake",
    code_version="1",
    kinds={"json"},
    # Deliveries arrive daily; no new delivery for two days means intake is stuck.
    freshness_policy=FreshnessPolicy.time_window(
        fail_window=timedelta(hours=48), warn_window=timedelta(hours=26)
    ),
    description="The validated delivery manifest of a title (delivery.json), with its "
    "media location resolved and checked against the allowed media roots.",
)
def delivery(
    context: AssetExecutionContext, inbox: DeliveryInbox, storage: ArtifactStorage
) -> MaterializeResult:
    title_id = title_of(context)
    box = inbox.inbox()
    manifest_key = context.run.tags.get(MANIFEST_KEY)
    try:
        found = box.load_key(manifest_key) if manifest_key else box.latest_for_title(title_id)
    except (ManifestError, InvalidTitleId) as exc:
        raise Failure(f"title {title_id}: delivery manifest {manifest_key} rejected: {exc}") from None
    except FileNotFoundError:
        raise Failure(f"title {title_id}: delivery manifest {manifest_key} is gone from the inbox") from None
    if found is None:
        raise Failure(f"title {title_id}: no valid delivery manifest for this title in {box.uri}")
    if found.title_id != title_id:
        raise Failure(
            f"title {title_id}: manifest {found.key} is for title {found.title_id!r}, not this one"
        )
    store = storage.store()
    # Temp files a killed earlier run left behind (never read: artifacts are published by rename).
    if swept := store.sweep_orphaned_temps(title_id):
        context.log.warning(f"title {title_id}: removed {len(swept)} temp file(s) of a killed earlier run")
    store.write_json(title_id, "delivery.json", found.as_record())
    m = found.manifest
    return MaterializeResult(
        metadata={
            "manifest_key": found.key,
            "manifest_sha256": found.digest,
            "media_location": found.media_location,
            "delivered_at": MetadataValue.timestamp(m.delivered_at),
            "delivery_date": m.delivery_date.isoformat(),
            "orphaned_temp_files_removed": len(swept),
            **{k: v for k, v in {
                "title_name": m.title_name, "series": m.series, "season": m.season,
                "episode": m.episode, "provider": m.provider,
                "audio_languages": ", ".join(m.audio_languages) or None,
            }.items() if v is not None},
        },
        data_version=DataVersion(found.digest[:16]),
    )

