"""Connection options every resource that may touch ``s3://`` shares."""

from __future__ import annotations

from typing import Any

from dagster import ConfigurableResource


class S3Connected(ConfigurableResource):
    """Base for resources that read or write URIs that may be ``s3://``.

    Credentials come from the standard AWS chain (task role in ECS); the
    endpoint override is for S3-compatible servers (tests, on-prem).
    """

    s3_endpoint_url: str | None = None
    s3_region: str | None = None

    def storage_options(self) -> dict[str, Any]:
        opts: dict[str, Any] = {}
        if self.s3_endpoint_url:
            opts["endpoint_url"] = self.s3_endpoint_url
        if self.s3_region:
            opts["client_kwargs"] = {"region_name": self.s3_region}
        return opts

    def storage_options_for(self, uri: str) -> dict[str, Any]:
        return self.storage_options() if uri.startswith("s3://") else {}
