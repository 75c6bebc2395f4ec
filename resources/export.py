"""Where title bundles are published: a local folder, or the production account's export bucket."""

from __future__ import annotations

from prism.export import ExportTarget
from resources.s3 import S3Connected


class BundleExport(S3Connected):
    """The export destination (``PRISM_EXPORT_URI``). Only derived results are ever written here."""

    uri: str

    def target(self) -> ExportTarget:
        return ExportTarget(self.uri, self.storage_options_for(self.uri))
