"""Where title bundles are published: a local folder, or the production account's export bucket."""

from __future__ import annotations

from typing import Any

import boto3

from prism.export import ExportTarget
from resources.s3 import S3Connected


def assumed_role_options(role_arn: str, *, region: str | None = None, endpoint_url: str | None = None,
                         sts_client: Any = None, session_name: str = "prism-export") -> dict[str, Any]:
    """s3fs options carrying temporary credentials of ``role_arn``.

    In production the export bucket lives in the product account and only the
    export-writer role may write to it; workers assume that role for the publish
    step alone, so their own task role never holds write access to the product
    account (and the export role holds no read access to media).
    """
    sts = sts_client or boto3.client("sts", region_name=region)
    creds = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name, DurationSeconds=3600)["Credentials"]
    opts: dict[str, Any] = {"key": creds["AccessKeyId"], "secret": creds["SecretAccessKey"],
                            "token": creds["SessionToken"]}
    if endpoint_url:
        opts["endpoint_url"] = endpoint_url
    if region:
        opts["client_kwargs"] = {"region_name": region}
    return opts


class BundleExport(S3Connected):
    """The export destination (``PRISM_EXPORT_URI``). Only derived results are ever written here."""

    uri: str
    role_arn: str | None = None  # PRISM_EXPORT_ROLE_ARN: the cross-account export-writer role

    def target(self) -> ExportTarget:
        if self.role_arn and self.uri.startswith("s3://"):
            opts = assumed_role_options(self.role_arn, region=self.s3_region, endpoint_url=self.s3_endpoint_url)
            return ExportTarget(self.uri, opts)
        return ExportTarget(self.uri, self.storage_options_for(self.uri))
