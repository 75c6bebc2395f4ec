"""The export bundle: a title's derived results published for the backend and frontend."""

from prism.export.bundle import (
    BUNDLE_MANIFEST,
    SCHEMA_VERSION,
    BundleFile,
    BundleManifest,
    ExportRefused,
    ExportTarget,
    publish_bundle,
    select_exportable,
)

__all__ = [
    "BUNDLE_MANIFEST", "SCHEMA_VERSION", "BundleFile", "BundleManifest", "ExportRefused", "ExportTarget",
    "publish_bundle", "select_exportable",
]
