"""The delivery inbox resource: where the upstream platform drops manifests and media."""

from __future__ import annotations

from pydantic import Field

from prism.intake.inbox import Inbox
from resources.s3 import S3Connected


class DeliveryInbox(S3Connected):
    uri: str
    media_roots: list[str] = Field(default_factory=list)
    max_manifest_bytes: int = 64 * 1024
    # How far back (before the newest day prefix, in hours) the delivery sensor still looks.
    lookback_hours: float = 24.0

    def inbox(self) -> Inbox:
        return Inbox(self.uri, self.storage_options_for(self.uri),
                     extra_media_roots=self.media_roots,
                     max_manifest_bytes=self.max_manifest_bytes)
