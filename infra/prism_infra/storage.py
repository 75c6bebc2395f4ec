"""Buckets of the media account: delivered media, artifacts (and LanceDB), the model store.

Every bucket: KMS (a customer key with rotation), TLS-only (``aws:SecureTransport`` deny),
all public access blocked, owner-enforced object ownership, versioned, retained on stack
deletion. Media never leaves this account; ``ExportStack`` holds the only bucket outside it.
"""

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from prism_infra.config import StageConfig


def secure_bucket(scope: Construct, construct_id: str, key: kms.IKey, **kwargs) -> s3.Bucket:
    """A bucket with Prism's non-negotiable settings (used in both accounts)."""
    return s3.Bucket(
        scope, construct_id,
        encryption=s3.BucketEncryption.KMS,
        encryption_key=key,
        bucket_key_enabled=True,
        enforce_ssl=True,
        minimum_tls_version=1.2,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        versioned=True,
        removal_policy=RemovalPolicy.RETAIN,
        **kwargs,
    )


class StorageStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.key = kms.Key(self, "DataKey", alias=f"alias/{config.prefix}-data", enable_key_rotation=True,
                           description="Prism media, artifacts and model store",
                           removal_policy=RemovalPolicy.RETAIN)
        expire_old_versions = [s3.LifecycleRule(noncurrent_version_expiration=Duration.days(30),
                                                abort_incomplete_multipart_upload_after=Duration.days(7))]
        # The upstream platform drops media + manifests under inbox/ here (PRISM_INBOX_URI).
        self.media_bucket = secure_bucket(self, "MediaBucket", self.key, lifecycle_rules=expire_old_versions)
        # titles/<id>/…, lancedb/ and dagster/compute-logs/ (PRISM_STORAGE_URI).
        self.artifacts_bucket = secure_bucket(self, "ArtifactsBucket", self.key,
                                              lifecycle_rules=expire_old_versions)
        # Model weights the workers prefetch at start (never a hub during a run).
        self.models_bucket = secure_bucket(self, "ModelsBucket", self.key)
