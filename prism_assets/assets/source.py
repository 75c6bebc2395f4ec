"""``source_probe``: what the delivered media holds (probe.json), and whether it decodes."""


import hashlib

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    DataVersion,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from prism.media.probe import PROBE_VERSION, MediaError, probe_media
from prism_assets.assets.inputs import require_artifacts
from prism_assets.assets.intake import delivery
from prism_assets.partitions import title_of, titles
from resources import ArtifactStorage, MediaReader

DECODABLE_VIDEO = "decodable_video"


@asset(
    partitions_def=titles,
    deps=[delivery],
    group_name="source",
    code_version=f"probe-{PROBE_VERSION}",
    kinds={"pyav", "json"},
    check_specs=[
        AssetCheckSpec(
            DECODABLE_VIDEO,
            asset="source_probe",
            blocking=True,
            description="The title has a video stream whose first frame decodes; "
            "nothing downstream runs on a title without one.",
        )
    ],
    description="PyAV probe of the delivered media (probe.json): duration, video codec/size/"
    "fps/VFR/rotation and every audio track. Bad media fails with a specific error.",
)
def source_probe(
    context: AssetExecutionContext, storage: ArtifactStorage, media: MediaReader
) -> MaterializeResult:
    title_id = title_of(context)
    store = storage.store()
    require_artifacts(store, title_id, ("delivery.json", "delivery"))
    record = store.read_json(title_id, "delivery.json")
    location = record["media_location"]
    try:
        with media.open(location) as source:
            probe = probe_media(source, size_bytes=media.size(location))
    except MediaError as exc:
        raise Failure(
            description=f"title {title_id}: {exc}",
            metadata={"error_code": exc.code, "media_location": location},
        ) from None

    store.write_json(title_id, "probe.json", probe.model_dump(mode="json"))
    video = probe.video
    if probe.has_decodable_video:
        check = AssetCheckResult(
            check_name=DECODABLE_VIDEO, passed=True,
            metadata={"codec": video.codec, "size": f"{video.width}x{video.height}"},
        )
    else:
        reason = video.decode_error if video else "no video stream (audio-only delivery)"
        check = AssetCheckResult(
            check_name=DECODABLE_VIDEO, passed=False, severity=AssetCheckSeverity.ERROR,
            description=f"title {title_id}: {reason}", metadata={"reason": reason},
        )
    metadata = {
        "duration_s": probe.duration_s,
        "container": probe.container,
        "audio_tracks": len(probe.audio),
        "audio_languages": ", ".join(a.language or "und" for a in probe.audio),
        "probe_json": MetadataValue.path(store.uri_of(title_id, "probe.json")),
        "probe": MetadataValue.json(probe.model_dump(mode="json")),
    }
    if video:
        metadata |= {
            "video_codec": video.codec, "resolution": f"{video.width}x{video.height}",
            "fps": video.fps, "vfr": video.vfr, "rotation": video.rotation,
            "frame_count": video.frame_count,
        }
    return MaterializeResult(
        metadata=metadata,
        check_results=[check],
        data_version=DataVersion(hashlib.sha256(probe.model_dump_json().encode()).hexdigest()[:16]),
    )
