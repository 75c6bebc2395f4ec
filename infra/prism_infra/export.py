"""The export bucket in the product (production) account.

Only the media account's export-writer role may write: it puts (and replaces) derived results
under ``export/`` and can do nothing else (no read, no listing outside ``export/``); an explicit
deny keeps every other principal, this account's own included, from writing. Backend and
frontend roles of this account read it through their own IAM policies.
"""

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from prism_infra.config import StageConfig
from prism_infra.storage import secure_bucket

EXPORT_PREFIX = "export/"


class ExportStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        writer = iam.ArnPrincipal(f"arn:aws:iam::{config.media_account}:role/{config.export_writer_role_name}")
        self.key = kms.Key(self, "ExportKey", alias=f"alias/{config.prefix}-export", enable_key_rotation=True,
                           removal_policy=RemovalPolicy.RETAIN)
        self.bucket = secure_bucket(self, "ExportBucket", self.key, bucket_name=config.export_bucket_name)
        self.bucket.add_to_resource_policy(iam.PolicyStatement(
            sid="MediaAccountExportWriterWritesDerivedResults",
            principals=[writer],
            actions=["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
            resources=[self.bucket.arn_for_objects(f"{EXPORT_PREFIX}*")],
        ))
        self.bucket.add_to_resource_policy(iam.PolicyStatement(
            sid="MediaAccountExportWriterListsExportPrefix",
            principals=[writer],
            actions=["s3:ListBucket"],
            resources=[self.bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{EXPORT_PREFIX}*"]}},
        ))
        # Only that role writes here: nobody else, this account's own principals included.
        self.bucket.add_to_resource_policy(iam.PolicyStatement(
            sid="OnlyTheExportWriterWrites",
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            actions=["s3:PutObject", "s3:DeleteObject"],
            resources=[self.bucket.arn_for_objects("*")],
            conditions={"ArnNotEquals": {"aws:PrincipalArn": writer.arn}},
        ))
        # Encrypt (and multipart-complete) through S3 only; no direct use of the key.
        self.key.add_to_resource_policy(iam.PolicyStatement(
            sid="MediaAccountExportWriterEncryptsViaS3",
            principals=[writer],
            actions=["kms:GenerateDataKey", "kms:Encrypt", "kms:Decrypt"],
            resources=["*"],
            conditions={"StringEquals": {"kms:ViaService": f"s3.{config.region}.amazonaws.com"}},
        ))
