"""ECS compute of a stage: the Dagster webserver and daemon (Fargate services), the run-worker
task (Fargate; runs the ECS executor and the CPU steps), the GPU step task on an EC2 GPU
capacity provider that scales to zero, and the least-privilege roles of each.

Who can read what:
- webserver: Dagster's Postgres and the step logs under ``dagster/compute-logs/``; no media,
  no artifacts.
- daemon: launches run workers; reads delivery manifests (``*.json``) in the media bucket for
  the sensor and the daily batch, and artifacts; never a media file.
- workers (run worker, CPU and GPU steps): read media and the model store, read and write
  artifacts, launch step tasks; with a Bedrock model source, InvokeModel on that model only.
- export writer (assumed by the workers for the export step only): reads artifacts, writes the
  product account's export bucket; cannot read media.
"""

from pathlib import Path

from aws_cdk import Duration, Stack
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from prism_infra.config import BEDROCK_PREFIX, StageConfig
from prism_infra.database import DATABASE_NAME, DatabaseStack
from prism_infra.network import POSTGRES_PORT, WEBSERVER_PORT, NetworkStack
from prism_infra.storage import StorageStack

REPO_ROOT = Path(__file__).resolve().parents[2]
DAGSTER_HOME = "/opt/dagster/home"
WORKSPACE = "/opt/dagster/app/deploy/workspace.yaml"
# Names shared with prism_assets/compute.py (tests/test_infra.py keeps them equal).
RUN_TASK_FAMILY = "prism-run"
GPU_TASK_DEFINITION_FAMILY = "prism-gpu-step"
GPU_CAPACITY_PROVIDER = "prism-gpu"
STEP_CONTAINER_NAME = "run"
COMPUTE_LOGS_PREFIX = "dagster/compute-logs/"


class ComputeStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, network: NetworkStack,
                 storage: StorageStack, database: DatabaseStack, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        vpc = network.vpc
        compute_subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
        self.cluster = ecs.Cluster(self, "Cluster", vpc=vpc, cluster_name=config.prefix,
                                   enable_fargate_capacity_providers=True,
                                   container_insights_v2=ecs.ContainerInsights.ENABLED)
        log_group = logs.LogGroup(self, "Logs", retention=logs.RetentionDays.THREE_MONTHS)

        ignore = ["**/.venv", ".venv", ".git", ".prism", "infra/cdk.out", "**/__pycache__", "**/node_modules"]
        cpu_image = ecs.ContainerImage.from_asset(
            str(REPO_ROOT), file="deploy/Dockerfile.cpu", exclude=ignore,
            platform=ecr_assets.Platform.LINUX_AMD64)
        gpu_image = ecs.ContainerImage.from_asset(
            str(REPO_ROOT), file="deploy/Dockerfile.gpu", exclude=ignore,
            platform=ecr_assets.Platform.LINUX_AMD64)

        # ---- roles -------------------------------------------------------------------------
        def task_role(name: str, description: str) -> iam.Role:
            return iam.Role(self, name, description=description,
                            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"))

        execution_role = task_role("ExecutionRole", "Pulls Prism images, writes logs, reads the DB secret")
        webserver_role = task_role("WebserverRole", "Dagster webserver: UI, no media access")
        daemon_role = task_role("DaemonRole", "Dagster daemon: sensors, schedules, run launches")
        worker_role = task_role("WorkerRole", "Run workers and steps: read media, write artifacts")
        self.roles = {"execution": execution_role, "webserver": webserver_role, "daemon": daemon_role,
                      "worker": worker_role}

        media, artifacts, models = storage.media_bucket, storage.artifacts_bucket, storage.models_bucket
        # Webserver: step logs only.
        webserver_role.add_to_policy(iam.PolicyStatement(
            actions=["s3:GetObject"], resources=[artifacts.arn_for_objects(f"{COMPUTE_LOGS_PREFIX}*")]))
        # Daemon: manifests only (never media bytes), and artifacts (already-processed check).
        daemon_role.add_to_policy(iam.PolicyStatement(
            actions=["s3:GetObject"], resources=[media.arn_for_objects("inbox/*.json")]))
        daemon_role.add_to_policy(iam.PolicyStatement(
            actions=["s3:ListBucket"], resources=[media.bucket_arn],
            conditions={"StringLike": {"s3:prefix": ["inbox/*", "inbox"]}}))
        artifacts.grant_read(daemon_role, "artifacts/*")
        # Workers: media and models in, artifacts (and LanceDB, step logs) out.
        media.grant_read(worker_role, "inbox/*")
        models.grant_read(worker_role)
        artifacts.grant_read_write(worker_role)
        # Workers: Bedrock embeddings, on the configured models only (none unless a model source
        # of the stage is bedrock:<model id>); the calls go through the VPC endpoint (network.py).
        if config.bedrock_models:
            worker_role.add_to_policy(iam.PolicyStatement(
                actions=["bedrock:InvokeModel"], resources=config.bedrock_model_arns()))
        for role in (webserver_role, daemon_role):
            storage.key.grant_decrypt(role)

        # Launching and watching ECS tasks: the daemon launches run workers, the run workers
        # launch step tasks; both pass the task roles to ECS. The webserver may stop a run.
        ecs_watch = ["ecs:DescribeTasks", "ecs:DescribeTaskDefinition", "ecs:StopTask"]
        for role in (webserver_role, daemon_role, worker_role):
            role.add_to_policy(iam.PolicyStatement(actions=ecs_watch, resources=["*"]))
        for role in (daemon_role, worker_role):
            role.add_to_policy(iam.PolicyStatement(
                actions=["ecs:RunTask"],
                resources=[self.format_arn(service="ecs", resource="task-definition",
                                           resource_name=f"{family}:*")
                           for family in (RUN_TASK_FAMILY, GPU_TASK_DEFINITION_FAMILY)],
                conditions={"ArnEquals": {"ecs:cluster": self.cluster.cluster_arn}}))
            role.add_to_policy(iam.PolicyStatement(
                actions=["ecs:TagResource"], resources=["*"],
                conditions={"StringEquals": {"ecs:CreateAction": "RunTask"}}))
            role.add_to_policy(iam.PolicyStatement(
                actions=["ec2:DescribeNetworkInterfaces"], resources=["*"]))
            role.add_to_policy(iam.PolicyStatement(
                actions=["iam:PassRole"], resources=[worker_role.role_arn, execution_role.role_arn]))

        # The export writer: assumed by workers for the export step; writes the product account's
        # export bucket (its policy there names this role), reads artifacts, never media.
        self.export_writer = iam.Role(
            self, "ExportWriterRole", role_name=config.export_writer_role_name,
            assumed_by=iam.ArnPrincipal(worker_role.role_arn),
            description="Publishes derived title bundles to the product account's export bucket")
        self.export_writer.grant_assume_role(worker_role)
        artifacts.grant_read(self.export_writer, "artifacts/*")
        export_bucket_arn = f"arn:aws:s3:::{config.export_bucket_name}"
        self.export_writer.add_to_policy(iam.PolicyStatement(
            actions=["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
            resources=[f"{export_bucket_arn}/export/*"]))
        self.export_writer.add_to_policy(iam.PolicyStatement(
            actions=["s3:ListBucket"], resources=[export_bucket_arn],
            conditions={"StringLike": {"s3:prefix": ["export/*"]}}))
        self.export_writer.add_to_policy(iam.PolicyStatement(
            actions=["kms:GenerateDataKey", "kms:Encrypt", "kms:Decrypt"],
            resources=[f"arn:aws:kms:{config.region}:{config.product_account}:key/*"],
            conditions={"StringEquals": {"kms:ViaService": f"s3.{config.region}.amazonaws.com"}}))

        # ---- containers ----------------------------------------------------------------------
        environment = {
            "DAGSTER_HOME": DAGSTER_HOME,
            "PRISM_PROFILE": "production",
            "PRISM_STORAGE_URI": f"s3://{artifacts.bucket_name}/artifacts",
            "PRISM_INBOX_URI": f"s3://{media.bucket_name}/inbox",
            "PRISM_MEDIA_ROOTS": "[]",
            "PRISM_EXPORT_URI": f"s3://{config.export_bucket_name}/export",
            "PRISM_EXPORT_ROLE_ARN": self.export_writer.role_arn,
            **{f"PRISM_{name.upper()}_MODEL_SOURCE": (
                directory if directory.startswith(BEDROCK_PREFIX)
                else f"s3://{models.bucket_name}/models/{directory}")
               for name, directory in config.model_sources.items()},
            # Bedrock in the media account's own region only (no cross-region inference).
            **({"PRISM_BEDROCK_REGION": config.region,
                "PRISM_BEDROCK_EMBEDDING_DIMENSION": str(config.bedrock_embedding_dimension)}
               if config.bedrock_models else {}),
            "PRISM_S3_REGION": config.region,
            "PRISM_COMPUTE_LOGS_BUCKET": artifacts.bucket_name,
            "PRISM_COMPUTE_LOGS_LOCAL_DIR": f"{DAGSTER_HOME}/compute-logs",
            "PRISM_RUN_TASK_DEFINITION": RUN_TASK_FAMILY,
            "PRISM_GPU_STEP_LIMIT": str(config.gpu_step_limit),
            # The visual pass on the GPU task's NVDEC: a 2-hour 25 Mb/s master decodes at ~410
            # frames/s there on ~1 core, against ~75 on the run task's 2 vCPU (docs/performance.md).
            "PRISM_VISUAL_DECODER": "nvdec",
            # Two decode sessions side by side: 597 frames/s on the H200 (a 2-hour title in ~5 min).
            "PRISM_VISUAL_SEGMENTS": "2",
            "DAGSTER_PG_HOST": database.instance.db_instance_endpoint_address,
            "DAGSTER_PG_PORT": str(POSTGRES_PORT),
            "DAGSTER_PG_DB": DATABASE_NAME,
        }
        secrets = {
            "DAGSTER_PG_USERNAME": ecs.Secret.from_secrets_manager(database.secret, "username"),
            "DAGSTER_PG_PASSWORD": ecs.Secret.from_secrets_manager(database.secret, "password"),
        }

        def container(task: ecs.TaskDefinition, name: str, image: ecs.ContainerImage, **kwargs):
            return task.add_container(
                name, image=image, environment=environment, secrets=secrets,
                logging=ecs.LogDrivers.aws_logs(stream_prefix=name, log_group=log_group),
                readonly_root_filesystem=False, **kwargs)

        webserver_task = ecs.FargateTaskDefinition(
            self, "WebserverTask", cpu=1024, memory_limit_mib=4096,
            task_role=webserver_role, execution_role=execution_role)
        container(webserver_task, "webserver", cpu_image,
                  command=["dagster-webserver", "-h", "0.0.0.0", "-p", str(WEBSERVER_PORT), "-w", WORKSPACE],
                  port_mappings=[ecs.PortMapping(container_port=WEBSERVER_PORT)])
        daemon_task = ecs.FargateTaskDefinition(
            self, "DaemonTask", cpu=1024, memory_limit_mib=4096,
            task_role=daemon_role, execution_role=execution_role)
        # dagster.yaml can only set a default pool limit: set the gpu pool explicitly first.
        container(daemon_task, "daemon", cpu_image, command=[
            "sh", "-c",
            f"dagster instance concurrency set gpu \"$PRISM_GPU_STEP_LIMIT\" && "
            f"exec dagster-daemon run -w {WORKSPACE}"])
        run_task = ecs.FargateTaskDefinition(
            self, "RunTask", family=RUN_TASK_FAMILY, cpu=2048, memory_limit_mib=8192,
            ephemeral_storage_gib=50, task_role=worker_role, execution_role=execution_role)
        container(run_task, STEP_CONTAINER_NAME, cpu_image)
        gpu_task = ecs.Ec2TaskDefinition(
            self, "GpuStepTask", family=GPU_TASK_DEFINITION_FAMILY, network_mode=ecs.NetworkMode.AWS_VPC,
            task_role=worker_role, execution_role=execution_role)
        container(gpu_task, STEP_CONTAINER_NAME, gpu_image, gpu_count=1, memory_reservation_mib=8192)

        # ---- services ------------------------------------------------------------------------
        self.webserver = ecs.FargateService(
            self, "Webserver", cluster=self.cluster, task_definition=webserver_task, desired_count=1,
            security_groups=[network.webserver_sg], vpc_subnets=compute_subnets, assign_public_ip=False,
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
            min_healthy_percent=100, max_healthy_percent=200)
        self.daemon = ecs.FargateService(
            self, "Daemon", cluster=self.cluster, task_definition=daemon_task, desired_count=1,
            # The EcsRunLauncher gives run workers (and they their step tasks) the daemon's own
            # subnets and security groups: the workers' group rides along from here.
            security_groups=[network.daemon_sg, network.worker_sg], vpc_subnets=compute_subnets,
            assign_public_ip=False,
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
            # Exactly one daemon: stop the old one before starting the new.
            min_healthy_percent=0, max_healthy_percent=100)
        self.load_balancer = elbv2.ApplicationLoadBalancer(
            self, "WebserverLb", vpc=vpc, internet_facing=False, security_group=network.load_balancer_sg,
            vpc_subnets=compute_subnets, drop_invalid_header_fields=True)
        listener = self.load_balancer.add_listener("Http", port=80, open=False)
        listener.add_targets("Webserver", port=WEBSERVER_PORT, protocol=elbv2.ApplicationProtocol.HTTP,
                             targets=[self.webserver],
                             health_check=elbv2.HealthCheck(path="/server_info", interval=Duration.seconds(30)))

        # ---- GPU capacity: EC2 on the current ECS GPU-optimised AMI, from zero -----------------
        instance_role = iam.Role(self, "GpuInstanceRole",
                                 assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
                                 managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(
                                     "service-role/AmazonEC2ContainerServiceforEC2Role")])
        launch_template = ec2.LaunchTemplate(
            self, "GpuLaunchTemplate",
            machine_image=ecs.EcsOptimizedImage.amazon_linux2023(ecs.AmiHardwareType.GPU),
            instance_type=ec2.InstanceType(config.gpu_instance_type),
            role=instance_role,
            security_group=network.worker_sg,
            require_imdsv2=True,
            http_put_response_hop_limit=1,  # containers cannot reach the instance's credentials
            user_data=ec2.UserData.for_linux(),
            block_devices=[ec2.BlockDevice(device_name="/dev/xvda", volume=ec2.BlockDeviceVolume.ebs(
                200, encrypted=True, volume_type=ec2.EbsDeviceVolumeType.GP3))],
        )
        gpu_group = autoscaling.AutoScalingGroup(
            self, "GpuInstances", vpc=vpc, vpc_subnets=compute_subnets, launch_template=launch_template,
            min_capacity=0, max_capacity=config.gpu_max_instances,
            new_instances_protected_from_scale_in=True)
        self.gpu_capacity_provider = ecs.AsgCapacityProvider(
            self, "GpuCapacityProvider", auto_scaling_group=gpu_group,
            capacity_provider_name=GPU_CAPACITY_PROVIDER,
            machine_image_type=ecs.MachineImageType.AMAZON_LINUX_2,
            enable_managed_scaling=True, target_capacity_percent=100,
            enable_managed_termination_protection=True)
        self.cluster.add_asg_capacity_provider(self.gpu_capacity_provider)
