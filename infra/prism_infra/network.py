"""The VPC everything of a stage runs in, and its security groups.

The compute tiers' security groups live here (not beside the services) so the database can
admit them without a cycle between stacks. Nothing is open to the internet: the only
inbound rule from outside the groups is the internal load balancer's, from the configured
internal CIDR.

When a model source of the stage is Amazon Bedrock (``bedrock:<model id>``), the workers reach
``bedrock-runtime`` through an interface endpoint in the compute subnets (private DNS, so the
regional endpoint name resolves to it): keyframes and text never cross the internet or the NAT.
The endpoint admits the workers' security group only, and its policy allows InvokeModel on the
configured models only, by principals of this account.
"""

from aws_cdk import Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from constructs import Construct

from prism_infra.config import StageConfig

WEBSERVER_PORT = 3000
POSTGRES_PORT = 5432


class NetworkStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.vpc = ec2.Vpc(
            self, "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(config.vpc_cidr),
            max_azs=2,
            nat_gateways=2 if config.production else 1,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
                ec2.SubnetConfiguration(name="compute", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS,
                                        cidr_mask=20),
                ec2.SubnetConfiguration(name="data", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED,
                                        cidr_mask=24),
            ],
        )
        # Media and artifacts traffic stays on the AWS network (and off the NAT bill).
        self.vpc.add_gateway_endpoint("S3Endpoint", service=ec2.GatewayVpcEndpointAwsService.S3)
        self.vpc.add_flow_log("FlowLog")

        def group(name: str, description: str) -> ec2.SecurityGroup:
            return ec2.SecurityGroup(self, name, vpc=self.vpc, description=description,
                                     allow_all_outbound=True)

        self.load_balancer_sg = group("WebserverLbSg", "Internal load balancer in front of the Dagster UI")
        self.load_balancer_sg.add_ingress_rule(
            ec2.Peer.ipv4(config.webserver_allowed_cidr), ec2.Port.tcp(80),
            "Dagster UI from the internal network only")
        self.webserver_sg = group("WebserverSg", "Dagster webserver tasks")
        self.webserver_sg.add_ingress_rule(self.load_balancer_sg, ec2.Port.tcp(WEBSERVER_PORT),
                                           "from the internal load balancer")
        self.daemon_sg = group("DaemonSg", "Dagster daemon task")
        self.worker_sg = group("WorkerSg", "Run workers and step tasks (Fargate and GPU instances)")
        # Which tiers reach the database (its security group lives in DatabaseStack: the secret
        # rotation adds a rule that refers to the instance's port).
        self.database_clients = {"webserver": self.webserver_sg, "daemon": self.daemon_sg,
                                 "workers": self.worker_sg}

        self.bedrock_endpoint: ec2.InterfaceVpcEndpoint | None = None
        if config.bedrock_models:
            self.bedrock_endpoint = self.vpc.add_interface_endpoint(
                "BedrockRuntimeEndpoint", service=ec2.InterfaceVpcEndpointAwsService.BEDROCK_RUNTIME,
                subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
                private_dns_enabled=True, open=False)
            self.bedrock_endpoint.connections.allow_default_port_from(
                self.worker_sg, "workers call Bedrock (embeddings) inside the VPC")
            self.bedrock_endpoint.add_to_policy(iam.PolicyStatement(
                principals=[iam.AnyPrincipal()], actions=["bedrock:InvokeModel"],
                resources=config.bedrock_model_arns(),
                conditions={"StringEquals": {"aws:PrincipalAccount": config.media_account}}))
