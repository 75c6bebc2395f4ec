"""The CI/CD pipeline (CDK Pipelines on CodePipeline, in the tooling account):

source → unit tests → synth → (self-update) → build and push images → deploy dev →
manual approval → deploy prod. Cross-account keys let the stages' accounts read the artifacts.
"""

from aws_cdk import Environment, Stack, pipelines
from aws_cdk import aws_codebuild as codebuild
from constructs import Construct

from prism_infra.config import PipelineConfig, stage_config
from prism_infra.stage import PrismStage

BUILD_IMAGE = codebuild.LinuxBuildImage.STANDARD_7_0


class PipelineStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: PipelineConfig, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        source = pipelines.CodePipelineSource.connection(
            config.repository, config.branch, connection_arn=config.connection_arn)
        unit_tests = pipelines.CodeBuildStep(
            "UnitTests", input=source,
            build_environment=codebuild.BuildEnvironment(
                build_image=BUILD_IMAGE, compute_type=codebuild.ComputeType.LARGE),
            # The CPU build of torch (the PyPI default is the multi-GB CUDA one).
            env={"PIP_EXTRA_INDEX_URL": "https://download.pytorch.org/whl/cpu", "CI": "true"},
            commands=["bash .ci/run"],
        )
        synth = pipelines.CodeBuildStep(
            "Synth", input=source,
            build_environment=codebuild.BuildEnvironment(build_image=BUILD_IMAGE),
            commands=[
                "python3.11 -m venv /tmp/cdk && /tmp/cdk/bin/pip install -q -r infra/requirements.txt",
                "cd infra && PATH=/tmp/cdk/bin:$PATH npx -y aws-cdk@2 synth",
            ],
            primary_output_directory="infra/cdk.out",
        )
        synth.add_step_dependency(unit_tests)
        self.pipeline = pipelines.CodePipeline(
            self, "Pipeline", pipeline_name="prism", synth=synth,
            cross_account_keys=True, enable_key_rotation=True,
            # Docker image assets (the CPU and GPU images) are built and pushed in their own stage.
            docker_enabled_for_self_mutation=False, publish_assets_in_parallel=True)
        dev = stage_config(self.node, "dev")
        prod = stage_config(self.node, "prod")
        self.pipeline.add_stage(PrismStage(self, "Dev", config=dev,
                                           env=Environment(account=dev.media_account, region=dev.region)))
        self.pipeline.add_stage(
            PrismStage(self, "Prod", config=prod,
                       env=Environment(account=prod.media_account, region=prod.region)),
            pre=[pipelines.ManualApprovalStep(
                "PromoteToProd", comment="Dev is deployed and healthy: promote this commit to prod?")])
