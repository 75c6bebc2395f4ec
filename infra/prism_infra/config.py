"""Typed view of the ``prism:*`` context in cdk.json (accounts, regions, sizes)."""

from __future__ import annotations

from dataclasses import dataclass, field

from constructs import Node

BEDROCK_PREFIX = "bedrock:"


@dataclass(frozen=True)
class StageConfig:
    """One deployment stage (dev, prod): a media account where media lives and everything runs,
    and the product (production) account that receives the derived results."""

    name: str
    media_account: str
    product_account: str
    region: str
    vpc_cidr: str
    # Who may reach the internal webserver load balancer (the VPC, a VPN or transit network).
    webserver_allowed_cidr: str
    gpu_instance_type: str
    gpu_max_instances: int
    gpu_step_limit: int
    database_instance_type: str
    production: bool
    # Model directories under the model store's models/ prefix, by setting: {"asr": "whisper-…"}
    # becomes PRISM_ASR_MODEL_SOURCE=s3://<models bucket>/models/whisper-… (prefetched at start).
    # A "bedrock:<model id>" value is passed through as is: that setting uses Amazon Bedrock in the
    # media account's region, and the stage gets a bedrock-runtime VPC endpoint and the workers
    # bedrock:InvokeModel on exactly those models.
    model_sources: dict[str, str] = field(default_factory=dict)
    bedrock_embedding_dimension: int = 1024

    @property
    def bedrock_models(self) -> list[str]:
        """The Bedrock model ids the stage's model sources name (sorted, no duplicates)."""
        return sorted({source[len(BEDROCK_PREFIX):] for source in self.model_sources.values()
                       if source.startswith(BEDROCK_PREFIX)})

    def bedrock_model_arns(self) -> list[str]:
        return [f"arn:aws:bedrock:{self.region}::foundation-model/{model}" for model in self.bedrock_models]

    @property
    def prefix(self) -> str:
        return f"prism-{self.name}"

    @property
    def export_bucket_name(self) -> str:
        return f"{self.prefix}-export-{self.product_account}"

    @property
    def export_writer_role_name(self) -> str:
        return f"{self.prefix}-export-writer"


@dataclass(frozen=True)
class PipelineConfig:
    account: str
    region: str
    repository: str
    branch: str
    connection_arn: str


def stage_config(node: Node, name: str) -> StageConfig:
    raw = node.try_get_context("prism:stages")
    if not raw or name not in raw:
        raise ValueError(f"cdk.json context prism:stages has no stage {name!r}")
    return StageConfig(name=name, **raw[name])


def pipeline_config(node: Node) -> PipelineConfig:
    raw = node.try_get_context("prism:pipeline")
    if not raw:
        raise ValueError("cdk.json context prism:pipeline is missing")
    return PipelineConfig(**raw)
