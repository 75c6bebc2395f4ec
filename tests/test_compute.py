"""Where steps run: exactly the declared assets carry the GPU step tags; the ECS executor's routing."""

import json
import os
import subprocess
import sys

import pytest

from prism.settings import Settings
from prism_assets.assets import PER_TITLE_ASSETS
from prism_assets.compute import (
    GPU_CAPACITY_PROVIDER,
    GPU_OP_TAGS,
    GPU_POOL,
    GPU_TASK_DEFINITION_FAMILY,
    STEP_CONTAINER_NAME,
    is_gpu_step,
)
from prism_assets.ecs import resolve_launch_target

# The assets that need a GPU under the default settings (the CPU shot detector, the built-in
# colour-layout keyframe descriptor, the bundled sentence embedder), declared here once.
GPU_ASSETS = {"speakers", "transcript", "text_embeddings"}


def _steps():
    from prism_assets.definitions import build_definitions

    graph = build_definitions(Settings()).resolve_asset_graph()
    for spec in PER_TITLE_ASSETS:
        for key in spec.keys:
            node = graph.get(key)
            yield key.to_user_string(), spec.op.tags, node.pools


def test_exactly_the_declared_assets_get_gpu_tags(prism_home):
    names = {name for name, _, _ in _steps()}
    expected = GPU_ASSETS
    assert expected <= names
    tagged = {name for name, tags, _ in _steps() if is_gpu_step(tags)}
    assert tagged == expected
    in_gpu_pool = {name for name, _, pools in _steps() if GPU_POOL in pools}
    assert in_gpu_pool == expected
    for name, tags, _ in _steps():
        ecs_tags = {k for k in tags if k.startswith("ecs/")}
        assert ecs_tags == (set(GPU_OP_TAGS) - {"prism/compute"} if name in expected else set()), name


GPU_TAGGED_SCRIPT = """
import json
from prism_assets.assets import PER_TITLE_ASSETS
from prism_assets.compute import is_gpu_step
print(json.dumps(sorted(k.to_user_string() for a in PER_TITLE_ASSETS for k in a.keys
                        if is_gpu_step(a.op.tags))))
"""


@pytest.mark.parametrize(("env", "expected"), [
    ({}, {"speakers", "transcript", "text_embeddings"}),
    ({"PRISM_SHOT_DETECTOR": "transnetv2", "PRISM_VISUAL_MODEL_SOURCE": "s3://models/siglip2"},
     {"shots", "speakers", "transcript", "visual_embeddings", "text_embeddings"}),
    ({"PRISM_VISUAL_DECODER": "nvdec"}, {"frame_signals", "speakers", "transcript", "text_embeddings"}),
    ({"PRISM_VISUAL_MODEL_SOURCE": "bedrock:amazon.nova-2-multimodal-embeddings-v1:0",
      "PRISM_TEXT_MODEL_SOURCE": "bedrock:amazon.nova-2-multimodal-embeddings-v1:0"},
     {"speakers", "transcript"}),
])
def test_a_step_holds_a_gpu_only_when_its_configured_model_needs_one(env, expected, prism_home):
    # The placement is read when the definitions load, as in a production code location: load
    # them in a fresh interpreter with the configuration.
    out = subprocess.run([sys.executable, "-c", GPU_TAGGED_SCRIPT], env={**os.environ, **env},
                         capture_output=True, text=True, check=True, timeout=120)
    assert set(json.loads(out.stdout.strip().splitlines()[-1])) == expected


def test_gpu_tags_ask_ecs_for_one_gpu_on_the_gpu_provider():
    assert json.loads(GPU_OP_TAGS["ecs/container_overrides"]) == {
        "resourceRequirements": [{"type": "GPU", "value": "1"}]}
    assert int(GPU_OP_TAGS["ecs/cpu"]) >= 1024 and int(GPU_OP_TAGS["ecs/memory"]) >= 4096
    routing = json.loads(GPU_OP_TAGS["ecs/run_task_kwargs"])
    assert routing == {"taskDefinition": GPU_TASK_DEFINITION_FAMILY,
                       "capacityProviderStrategy": [{"capacityProvider": GPU_CAPACITY_PROVIDER,
                                                     "weight": 1}]}
    assert STEP_CONTAINER_NAME == "run"  # EcsRunLauncher's container_name in deploy/dagster.yaml


def test_production_profile_runs_steps_on_ecs(prism_home, monkeypatch):
    from prism_assets.definitions import build_definitions
    from prism_assets.jobs import PROCESS_TITLE

    local = build_definitions(Settings()).resolve_job_def(PROCESS_TITLE)
    assert local.executor_def.name != "ecs"
    monkeypatch.setenv("PRISM_PROFILE", "production")
    monkeypatch.setenv("PRISM_STORAGE_URI", "s3://prism-artifacts/artifacts")
    monkeypatch.setenv("PRISM_INBOX_URI", "s3://prism-artifacts/inbox")
    production = build_definitions(Settings()).resolve_job_def(PROCESS_TITLE)
    assert production.executor_def.name == "ecs"


# What a GPU step's RunTask looks like after the run worker's own (Fargate) settings are merged
# with the step's ecs/run_task_kwargs tag, as dagster-aws's step handler does.
FARGATE_WORKER = {
    "cluster": "prism", "launchType": "FARGATE", "taskDefinition": "arn:aws:ecs:…:task-definition/prism-run:7",
    "networkConfiguration": {"awsvpcConfiguration": {
        "subnets": ["subnet-1"], "securityGroups": ["sg-1"], "assignPublicIp": "DISABLED"}},
}


def test_gpu_step_goes_to_the_capacity_provider_without_fargate_settings():
    merged = {**FARGATE_WORKER, **json.loads(GPU_OP_TAGS["ecs/run_task_kwargs"])}
    resolved = resolve_launch_target(merged)
    assert "launchType" not in resolved  # ECS rejects launchType together with a strategy
    assert resolved["capacityProviderStrategy"][0]["capacityProvider"] == GPU_CAPACITY_PROVIDER
    assert resolved["taskDefinition"] == GPU_TASK_DEFINITION_FAMILY
    assert resolved["networkConfiguration"] == {"awsvpcConfiguration": {
        "subnets": ["subnet-1"], "securityGroups": ["sg-1"]}}  # assignPublicIp is Fargate-only
    assert merged["launchType"] == "FARGATE"  # the input is left alone


def test_cpu_step_keeps_the_workers_fargate_settings():
    assert resolve_launch_target(FARGATE_WORKER) == FARGATE_WORKER
    spot = {**FARGATE_WORKER, "capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT"}]}
    resolved = resolve_launch_target(spot)
    assert "launchType" not in resolved
    assert resolved["networkConfiguration"] == FARGATE_WORKER["networkConfiguration"]


def test_the_executor_hook_prism_overrides_is_still_the_one_dagster_aws_launches_with():
    """CapacityProviderStepHandler overrides a private method of dagster-aws's EcsStepHandler. If
    a dagster-aws release renames it, or stops building RunTask arguments through it, the override
    would silently do nothing and every GPU step would be rejected by ECS: fail here instead."""
    import inspect

    from dagster_aws.ecs.executor import EcsStepHandler

    from prism_assets.ecs import CapacityProviderStepHandler

    hook = "_get_run_task_kwargs"
    assert hook in vars(EcsStepHandler), f"dagster-aws's EcsStepHandler no longer has {hook}"
    assert hook in vars(CapacityProviderStepHandler)
    assert list(inspect.signature(getattr(EcsStepHandler, hook)).parameters) == [
        "self", "run", "args", "step_key", "step_tags", "step_handler_context", "container_context"]
    # launch_step builds the RunTask call from the hook's result.
    assert f"self.{hook}(" in inspect.getsource(EcsStepHandler.launch_step)
