"""Where each step runs, declared once.

Assets that need a GPU in production (TransNetV2 shots, Whisper transcription,
embeddings) pass ``**GPU_STEP`` to ``@asset``; everything else runs on the
default CPU task. Locally the ``ecs/*`` op tags are inert (the in-process and
multiprocess executors ignore them); on ECS the ``ecs_executor`` turns them into
task/container overrides so the step lands on the GPU capacity provider, and the
``gpu`` pool caps how many GPU steps run at once (limit set in the production
dagster.yaml).
"""

import json
from typing import Any

GPU_POOL = "gpu"

# Task size of a GPU step (one GPU per task; g5/g6-class instance slices).
GPU_TASK_CPU = "4096"
GPU_TASK_MEMORY = "15360"

GPU_OP_TAGS: dict[str, str] = {
    "prism/compute": "gpu",
    "ecs/cpu": GPU_TASK_CPU,
    "ecs/memory": GPU_TASK_MEMORY,
    "ecs/container_overrides": json.dumps({"resourceRequirements": [{"type": "GPU", "value": "1"}]}),
}

# Keyword arguments for @asset: ``@asset(..., **GPU_STEP)``.
GPU_STEP: dict[str, Any] = {"op_tags": GPU_OP_TAGS, "pool": GPU_POOL}


def is_gpu_step(op_tags: dict[str, Any] | None) -> bool:
    return bool(op_tags) and op_tags.get("prism/compute") == "gpu"
