"""The artifact storage resource: local directory or ``s3://`` prefix, same code."""

from __future__ import annotations

from prism.storage import ArtifactStore
from resources.s3 import S3Connected


class ArtifactStorage(S3Connected):
    """Where every per-title artifact is written (contract: docs/schema.md)."""

    root: str

    def store(self) -> ArtifactStore:
        return ArtifactStore(self.root, self.storage_options_for(self.root))
