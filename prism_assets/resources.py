"""Resources per environment, chosen by configuration (prism.settings) alone.

The local profile and production differ only in where things live (local
paths vs ``s3://``, SQLite vs Postgres via DAGSTER_HOME) and, later, in which
model backends and devices are used; the asset code is the same.
"""

from __future__ import annotations

from prism.settings import Settings
from resources import ArtifactStorage, BundleExport, DeliveryInbox, MediaReader


def build_resources(settings: Settings) -> dict[str, object]:
    s3 = {"s3_endpoint_url": settings.s3.endpoint_url, "s3_region": settings.s3.region}
    return {
        "storage": ArtifactStorage(root=settings.artifacts_uri, **s3),
        "inbox": DeliveryInbox(
            uri=settings.inbox,
            media_roots=settings.media_roots,
            max_manifest_bytes=settings.manifest_max_bytes,
            **s3,
        ),
        "media": MediaReader(**s3),
        "export": BundleExport(uri=settings.export, **s3),
    }
