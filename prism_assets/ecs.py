"""The production executor: dagster-aws's ECS executor, able to send a step to a capacity provider.

``dagster_aws.ecs.ecs_executor`` launches every step as an ECS task with the run
worker's own launch settings (Fargate, its subnets and security groups) merged
with the step's ``ecs/run_task_kwargs`` tag. A GPU step's tag names the EC2 GPU
capacity provider (see ``prism_assets/compute.py``), but the inherited
``launchType: FARGATE`` is still there and ECS rejects a RunTask that has both;
``assignPublicIp`` is likewise Fargate-only. This executor is the same executor
(same config schema, same step handler) with that one conflict resolved the way
``EcsRunLauncher`` itself resolves it: a capacity provider strategy wins.
"""

from collections.abc import Mapping
from typing import Any

from dagster import _check as check
from dagster import executor
from dagster._core.definitions.executor_definition import multiple_process_executor_requirements
from dagster._core.execution.retries import RetryMode
from dagster._core.execution.step_dependency_config import StepDependencyConfig
from dagster._core.executor.step_delegating import StepDelegatingExecutor
from dagster_aws.ecs.executor import _ECS_EXECUTOR_CONFIG_SCHEMA, EcsStepHandler
from dagster_aws.ecs.launcher import EcsRunLauncher


def resolve_launch_target(run_task_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """RunTask arguments with ``launchType`` dropped where a capacity provider strategy is set.

    ``assignPublicIp`` goes too when the strategy names no Fargate provider (EC2 tasks in
    ``awsvpc`` mode cannot take it).
    """
    kwargs = dict(run_task_kwargs)
    strategy = kwargs.get("capacityProviderStrategy")
    if not strategy:
        return kwargs
    kwargs.pop("launchType", None)
    on_fargate = any(item.get("capacityProvider", "").startswith("FARGATE") for item in strategy)
    vpc = (kwargs.get("networkConfiguration") or {}).get("awsvpcConfiguration")
    if vpc and not on_fargate and "assignPublicIp" in vpc:
        vpc = {k: v for k, v in vpc.items() if k != "assignPublicIp"}
        kwargs["networkConfiguration"] = {**kwargs["networkConfiguration"], "awsvpcConfiguration": vpc}
    return kwargs


class CapacityProviderStepHandler(EcsStepHandler):
    @property
    def name(self) -> str:
        return "PrismEcsStepHandler"

    def _get_run_task_kwargs(self, *args, **kwargs):
        return resolve_launch_target(super()._get_run_task_kwargs(*args, **kwargs))


@executor(
    name="ecs",
    config_schema=_ECS_EXECUTOR_CONFIG_SCHEMA,
    requirements=multiple_process_executor_requirements(),
)
def prism_ecs_executor(init_context):
    """Each step in its own ECS task; GPU steps on the GPU capacity provider (see compute.py)."""
    run_launcher = init_context.instance.run_launcher
    check.invariant(
        isinstance(run_launcher, EcsRunLauncher),
        "the ECS executor needs runs launched in ECS tasks by the EcsRunLauncher (deploy/dagster.yaml)",
    )
    config = init_context.executor_config
    return StepDelegatingExecutor(
        CapacityProviderStepHandler(
            run_launcher=run_launcher,
            run_task_kwargs=config.get("run_task_kwargs"),
            cpu=config.get("cpu"),
            memory=config.get("memory"),
            ephemeral_storage=config.get("ephemeral_storage"),
            task_overrides=config.get("task_overrides"),
        ),
        retries=RetryMode.from_config(config["retries"]),
        max_concurrent=check.opt_int_elem(config, "max_concurrent"),
        tag_concurrency_limits=check.opt_list_elem(config, "tag_concurrency_limits"),
        should_verify_step=True,
        step_dependency_config=StepDependencyConfig.from_config(config.get("step_dependency_config")),
    )
