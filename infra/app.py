#!/usr/bin/env python3
"""Prism's CDK app: the pipeline stack, which deploys the dev and prod stages.

Run from infra/: ``npx aws-cdk@2 synth`` (cdk.json says how to start this file and holds the
feature flags and the ``prism:*`` context with accounts and sizes).
"""

import sys
from pathlib import Path

from aws_cdk import App, Environment

sys.path.insert(0, str(Path(__file__).parent))

from prism_infra.config import pipeline_config  # noqa: E402
from prism_infra.pipeline import PipelineStack  # noqa: E402


def build_app(app: App) -> PipelineStack:
    config = pipeline_config(app.node)
    return PipelineStack(app, "PrismPipeline", config=config,
                         env=Environment(account=config.account, region=config.region))


if __name__ == "__main__":
    app = App()
    build_app(app)
    app.synth()
