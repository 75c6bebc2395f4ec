"""The Dagster instance storage: RDS PostgreSQL, encrypted, TLS enforced, credentials in
Secrets Manager (generated, rotated every 30 days)."""

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_rds as rds
from constructs import Construct

from prism_infra.config import StageConfig
from prism_infra.network import POSTGRES_PORT, NetworkStack

DATABASE_NAME = "dagster"


class DatabaseStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig,
                 network: NetworkStack, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        key = kms.Key(self, "DatabaseKey", alias=f"alias/{config.prefix}-database", enable_key_rotation=True,
                      removal_policy=RemovalPolicy.RETAIN)
        self.security_group = ec2.SecurityGroup(
            self, "DatabaseSg", vpc=network.vpc, allow_all_outbound=False,
            description="Dagster instance storage (RDS Postgres)")
        for tier, client in network.database_clients.items():
            self.security_group.add_ingress_rule(client, ec2.Port.tcp(POSTGRES_PORT), f"Postgres from {tier}")
        engine = rds.DatabaseInstanceEngine.postgres(version=rds.PostgresEngineVersion.VER_16)
        parameters = rds.ParameterGroup(self, "Parameters", engine=engine,
                                        parameters={"rds.force_ssl": "1"})
        self.instance = rds.DatabaseInstance(
            self, "Instance",
            engine=engine,
            instance_type=ec2.InstanceType(config.database_instance_type),
            vpc=network.vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            security_groups=[self.security_group],
            port=POSTGRES_PORT,
            database_name=DATABASE_NAME,
            # The secret uses Secrets Manager's own key: a key of this stack would need the compute
            # stack's roles in its policy, and the stacks would depend on each other.
            credentials=rds.Credentials.from_generated_secret(
                "dagster", secret_name=f"{config.prefix}/dagster-db"),
            storage_encrypted=True,
            storage_encryption_key=key,
            parameter_group=parameters,
            allocated_storage=50,
            max_allocated_storage=500,
            multi_az=config.production,
            backup_retention=Duration.days(14 if config.production else 3),
            deletion_protection=config.production,
            removal_policy=RemovalPolicy.SNAPSHOT if config.production else RemovalPolicy.DESTROY,
            publicly_accessible=False,
            auto_minor_version_upgrade=True,
        )
        self.secret = self.instance.secret
        self.instance.add_rotation_single_user(automatically_after=Duration.days(30))
