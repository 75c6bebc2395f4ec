"""CDK assertions on the synthesized templates of infra/ (synthesized offline, once for this
module, with the production feature-flag context from infra/cdk.json)."""

import json
import os
import sys
from pathlib import Path

import pytest

INFRA = Path(__file__).resolve().parents[1] / "infra"
MEDIA_BUCKET = "MediaBucket"  # logical id prefix of the media bucket in the storage stack


@pytest.fixture(scope="module")
def templates(tmp_path_factory) -> dict[str, dict]:
    """Every stack of the app (pipeline + dev and prod stages), by stack name, as JSON."""
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    sys.path.insert(0, str(INFRA))
    try:
        import app as infra_app
        from aws_cdk import App

        context = json.loads((INFRA / "cdk.json").read_text())["context"]
        app = App(context=context, outdir=str(tmp_path_factory.mktemp("cdk.out")))
        infra_app.build_app(app)
        assembly = app.synth()
        return {stack.stack_name: stack.template for stack in assembly.stacks_recursively}
    finally:
        sys.path.remove(str(INFRA))


def resources(template: dict, kind: str) -> dict[str, dict]:
    return {k: r for k, r in template.get("Resources", {}).items() if r["Type"] == kind}


def all_resources(templates, kind: str) -> list[tuple[str, str, dict]]:
    return [(stack, k, r) for stack, t in templates.items() for k, r in resources(t, kind).items()]


def statements_of_role(template: dict, role_prefix: str) -> list[dict]:
    (role_id,) = [k for k in resources(template, "AWS::IAM::Role") if k.startswith(role_prefix)]
    found = []
    for policy in resources(template, "AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            found += policy["Properties"]["PolicyDocument"]["Statement"]
    return found


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def test_app_has_the_pipeline_and_both_stages_in_their_accounts(templates):
    context = json.loads((INFRA / "cdk.json").read_text())["context"]
    assert set(templates) == {"PrismPipeline"} | {
        f"{stage}-{name}" for stage in ("Dev", "Prod")
        for name in ("Network", "Storage", "Database", "Compute", "Export")}
    # The production feature flags are in cdk.json (an ASG without them gets a launch config).
    assert context["@aws-cdk/aws-autoscaling:generateLaunchTemplateInsteadOfLaunchConfig"] is True
    assert all_resources(templates, "AWS::AutoScaling::LaunchConfiguration") == []


def test_every_bucket_is_kms_encrypted_tls_only_and_private(templates):
    buckets = all_resources(templates, "AWS::S3::Bucket")
    assert len(buckets) >= 9  # media, artifacts, models per stage, export per stage, pipeline
    for stack, bucket_id, bucket in buckets:
        props = bucket["Properties"]
        (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms", (stack, bucket_id)
        assert "KMSMasterKeyID" in rule["ServerSideEncryptionByDefault"], (stack, bucket_id)
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True, "BlockPublicPolicy": True,
            "IgnorePublicAcls": True, "RestrictPublicBuckets": True}, (stack, bucket_id)
        policies = [p for p in resources(templates[stack], "AWS::S3::BucketPolicy").values()
                    if p["Properties"]["Bucket"] == {"Ref": bucket_id}]
        statements = [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]]
        assert any(s["Effect"] == "Deny" and s["Action"] == "s3:*"
                   and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
                   for s in statements), (stack, bucket_id)
    for stack, key_id, key in all_resources(templates, "AWS::KMS::Key"):
        assert key["Properties"]["EnableKeyRotation"] is True, (stack, key_id)


def test_no_security_group_is_open_to_the_world(templates):
    world = {"0.0.0.0/0", "::/0"}
    for stack, group_id, group in all_resources(templates, "AWS::EC2::SecurityGroup"):
        for rule in group["Properties"].get("SecurityGroupIngress", []):
            assert rule.get("CidrIp") not in world and rule.get("CidrIpv6") not in world, (stack, group_id)
    for stack, rule_id, rule in all_resources(templates, "AWS::EC2::SecurityGroupIngress"):
        props = rule["Properties"]
        assert props.get("CidrIp") not in world and props.get("CidrIpv6") not in world, (stack, rule_id)
    # The webserver's load balancer is internal: reachable from inside the network only.
    balancers = all_resources(templates, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    assert len(balancers) == 2
    assert all(lb["Properties"]["Scheme"] == "internal" for _, _, lb in balancers)
    for _, _, service in all_resources(templates, "AWS::ECS::Service"):
        vpc = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]
        assert vpc["AssignPublicIp"] == "DISABLED"
    # Run workers inherit the daemon's network settings, so the daemon carries the workers' group,
    # the one the GPU instances use too.
    compute = templates["Prod-Compute"]
    daemon = next(r for k, r in resources(compute, "AWS::ECS::Service").items() if k.startswith("Daemon"))
    (template,) = resources(compute, "AWS::EC2::LaunchTemplate").values()
    gpu_groups = template["Properties"]["LaunchTemplateData"]["SecurityGroupIds"]
    daemon_groups = daemon["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]["SecurityGroups"]
    assert gpu_groups[0] in daemon_groups


def test_gpu_capacity_provider_scales_from_zero_on_the_ecs_gpu_ami(templates):
    from prism_assets.compute import GPU_CAPACITY_PROVIDER, GPU_TASK_DEFINITION_FAMILY, STEP_CONTAINER_NAME

    compute = templates["Prod-Compute"]
    (provider,) = resources(compute, "AWS::ECS::CapacityProvider").values()
    asg_provider = provider["Properties"]["AutoScalingGroupProvider"]
    assert provider["Properties"]["Name"] == GPU_CAPACITY_PROVIDER
    assert asg_provider["ManagedScaling"]["Status"] == "ENABLED"
    (group,) = resources(compute, "AWS::AutoScaling::AutoScalingGroup").values()
    assert group["Properties"]["MinSize"] == "0"
    assert int(group["Properties"]["MaxSize"]) >= 1
    (template,) = resources(compute, "AWS::EC2::LaunchTemplate").values()
    data = template["Properties"]["LaunchTemplateData"]
    assert data["MetadataOptions"]["HttpTokens"] == "required"  # IMDSv2 only
    assert data["InstanceType"].startswith(("g4dn.", "g5.", "g6.", "g6e."))
    assert all(d["Ebs"]["Encrypted"] for d in data["BlockDeviceMappings"])
    image_param = data["ImageId"]["Ref"]
    assert compute["Parameters"][image_param]["Default"] == (
        "/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id")
    associations = resources(compute, "AWS::ECS::ClusterCapacityProviderAssociations")
    (association,) = associations.values()
    assert {"Ref": next(iter(resources(compute, "AWS::ECS::CapacityProvider")))} in \
        association["Properties"]["CapacityProviders"]
    # The GPU step task definition carries the names the GPU op tags route to.
    tasks = {t["Properties"].get("Family"): t["Properties"]
             for t in resources(compute, "AWS::ECS::TaskDefinition").values()}
    gpu = tasks[GPU_TASK_DEFINITION_FAMILY]
    assert gpu["RequiresCompatibilities"] == ["EC2"] and gpu["NetworkMode"] == "awsvpc"
    (container,) = gpu["ContainerDefinitions"]
    assert container["Name"] == STEP_CONTAINER_NAME
    assert container["ResourceRequirements"] == [{"Type": "GPU", "Value": "1"}]


def test_task_definitions_match_the_dagster_config(templates):
    """Every variable deploy/dagster.yaml reads is set on every Dagster container; DB credentials
    come from Secrets Manager, never plain environment."""
    import re

    dagster_yaml = (INFRA.parent / "deploy" / "dagster.yaml").read_text()
    needed = set(re.findall(r"env: (\w+)", dagster_yaml))
    assert {"DAGSTER_PG_PASSWORD", "PRISM_RUN_TASK_DEFINITION"} <= needed
    tasks = resources(templates["Prod-Compute"], "AWS::ECS::TaskDefinition").values()
    families = {t["Properties"].get("Family") for t in tasks}
    assert {"prism-run", "prism-gpu-step"} <= families
    for task in tasks:
        for container in task["Properties"]["ContainerDefinitions"]:
            env = {e["Name"]: e["Value"] for e in container["Environment"]}
            secret_names = {s["Name"] for s in container.get("Secrets", [])}
            assert needed <= set(env) | secret_names, container["Name"]
            assert {"DAGSTER_PG_USERNAME", "DAGSTER_PG_PASSWORD"} <= secret_names
            assert "DAGSTER_PG_PASSWORD" not in env
            assert env["PRISM_PROFILE"] == "production"
            assert env["PRISM_RUN_TASK_DEFINITION"] == "prism-run"
            # Weights come from the model store (prefetched at start), never a hub.
            assert json.dumps(env["PRISM_ASR_MODEL_SOURCE"]).endswith('/models/whisper-large-v3-turbo"]]}')
            assert "ModelsBucket" in json.dumps(env["PRISM_ASR_MODEL_SOURCE"])


def test_database_is_encrypted_private_tls_only_with_a_rotated_secret(templates):
    database = templates["Prod-Database"]
    (instance,) = resources(database, "AWS::RDS::DBInstance").values()
    props = instance["Properties"]
    assert props["Engine"] == "postgres"
    assert props["StorageEncrypted"] is True and "KmsKeyId" in props
    assert props["PubliclyAccessible"] is False
    assert props["MultiAZ"] is True and props["DeletionProtection"] is True
    assert "Fn::Join" in json.dumps(props["MasterUserPassword"])  # resolved from the secret
    assert "secretsmanager" in json.dumps(props["MasterUserPassword"])
    (parameters,) = resources(database, "AWS::RDS::DBParameterGroup").values()
    assert parameters["Properties"]["Parameters"]["rds.force_ssl"] == "1"
    assert len(resources(database, "AWS::SecretsManager::Secret")) == 1
    assert len(resources(database, "AWS::SecretsManager::RotationSchedule")) == 1


def _mentions(statement: dict, needle: str) -> bool:
    return needle in json.dumps(statement.get("Resource", ""))


def _s3_actions(statement: dict) -> list[str]:
    return [a for a in as_list(statement["Action"]) if a.startswith("s3:")]


def test_webserver_cannot_read_media(templates):
    compute = templates["Prod-Compute"]
    statements = statements_of_role(compute, "WebserverRole")
    assert statements, "the webserver role has policies"
    assert not any(_mentions(s, MEDIA_BUCKET) for s in statements)
    s3_objects = [json.dumps(s["Resource"]) for s in statements if _s3_actions(s)]
    assert s3_objects and all("/dagster/compute-logs/*" in r for r in s3_objects)


def test_daemon_reads_manifests_but_not_media(templates):
    statements = statements_of_role(templates["Prod-Compute"], "DaemonRole")
    media_reads = [s for s in statements
                   if _mentions(s, MEDIA_BUCKET) and "s3:GetObject" in as_list(s["Action"])]
    assert media_reads and all(json.dumps(s["Resource"]).endswith('/inbox/*.json"]]}') for s in media_reads)


def test_workers_read_media_and_write_artifacts(templates):
    statements = statements_of_role(templates["Prod-Compute"], "WorkerRole")
    media = [a for s in statements if _mentions(s, MEDIA_BUCKET) for a in _s3_actions(s)]
    artifacts = [a for s in statements if _mentions(s, "ArtifactsBucket") for a in _s3_actions(s)]
    assert "s3:GetObject*" in media and not any(a.startswith(("s3:Put", "s3:Delete")) for a in media)
    assert "s3:PutObject" in artifacts and "s3:GetObject*" in artifacts


def test_export_writer_cannot_read_media_and_only_it_writes_the_export_bucket(templates):
    context = json.loads((INFRA / "cdk.json").read_text())["context"]["prism:stages"]["prod"]
    writer_arn = f"arn:aws:iam::{context['media_account']}:role/prism-prod-export-writer"
    compute = templates["Prod-Compute"]
    (writer_id, writer), = [(k, r) for k, r in resources(compute, "AWS::IAM::Role").items()
                            if r["Properties"].get("RoleName") == "prism-prod-export-writer"]
    statements = statements_of_role(compute, writer_id)
    assert not any(_mentions(s, MEDIA_BUCKET) for s in statements)
    export_bucket = f"prism-prod-export-{context['product_account']}"
    puts = [s for s in statements if "s3:PutObject" in as_list(s["Action"])]
    assert puts and all(json.dumps(s["Resource"]) == f'"arn:aws:s3:::{export_bucket}/export/*"' for s in puts)

    export = templates["Prod-Export"]
    (policy,) = resources(export, "AWS::S3::BucketPolicy").values()
    allowed = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert allowed and all(s["Principal"] == {"AWS": writer_arn} for s in allowed)
    assert not any(a.startswith("s3:Get") for s in allowed for a in as_list(s["Action"]))
    deny_others = [s for s in policy["Properties"]["PolicyDocument"]["Statement"]
                   if s["Effect"] == "Deny" and "s3:PutObject" in as_list(s["Action"])]
    assert deny_others[0]["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": writer_arn}}
    (bucket,) = resources(export, "AWS::S3::Bucket").values()
    assert bucket["Properties"]["BucketName"] == export_bucket


def test_pipeline_tests_builds_images_deploys_dev_then_prod_after_approval(templates):
    pipeline = templates["PrismPipeline"]
    (codepipeline,) = resources(pipeline, "AWS::CodePipeline::Pipeline").values()
    stages = codepipeline["Properties"]["Stages"]
    assert [s["Name"] for s in stages] == ["Source", "Build", "UpdatePipeline", "Assets", "Dev", "Prod"]
    build = {a["Name"]: a["RunOrder"] for a in stages[1]["Actions"]}
    assert build["UnitTests"] < build["Synth"]  # unit tests gate the synth and everything after
    images = [a for a in stages[3]["Actions"] if "AssetImage" in a["Name"]]
    assert len(images) == 2  # the CPU and the GPU image, built and pushed
    prod_actions = sorted(stages[5]["Actions"], key=lambda a: a["RunOrder"])
    approval = prod_actions[0]
    assert approval["ActionTypeId"]["Category"] == "Approval"
    assert approval["ActionTypeId"]["Provider"] == "Manual"
    assert all(a["RunOrder"] > approval["RunOrder"] for a in prod_actions[1:])
    # Cross-account keys: the artifact store is encrypted with a KMS key the stage accounts use.
    store = codepipeline["Properties"].get("ArtifactStore") or codepipeline["Properties"]["ArtifactStores"][0]
    assert store["EncryptionKey"]["Type"] == "KMS"
    (unit_tests,) = [r for r in resources(pipeline, "AWS::CodeBuild::Project").values()
                     if "bash .ci/run" in json.dumps(r["Properties"]["Source"])]
    assert unit_tests


def test_bedrock_is_reached_through_a_vpc_endpoint_and_only_the_configured_model_is_granted(templates):
    """Dev's embedding sources are Bedrock (cdk.json): its media-account VPC gets a bedrock-runtime
    interface endpoint the workers alone reach, the workers InvokeModel on that model's ARN alone, and
    the containers the source as is. Prod hosts its own models: no endpoint, no grant."""
    stages = json.loads((INFRA / "cdk.json").read_text())["context"]["prism:stages"]
    dev = stages["dev"]
    model = dev["model_sources"]["visual"].removeprefix("bedrock:")
    model_arn = f"arn:aws:bedrock:{dev['region']}::foundation-model/{model}"

    network = templates["Dev-Network"]
    (endpoint,) = [r["Properties"] for r in resources(network, "AWS::EC2::VPCEndpoint").values()
                   if r["Properties"].get("VpcEndpointType") == "Interface"]
    assert endpoint["ServiceName"] == f"com.amazonaws.{dev['region']}.bedrock-runtime"
    assert endpoint["PrivateDnsEnabled"] is True  # the regional name resolves to the endpoint
    subnets = {s["Ref"] for s in endpoint["SubnetIds"]}
    assert subnets and all("compute" in s.lower() for s in subnets)
    (endpoint_sg_ref,) = endpoint["SecurityGroupIds"]
    endpoint_sg = endpoint_sg_ref["Fn::GetAtt"][0]
    worker_sg = next(k for k in resources(network, "AWS::EC2::SecurityGroup") if k.startswith("WorkerSg"))
    groups = resources(network, "AWS::EC2::SecurityGroup")
    ingress = groups[endpoint_sg]["Properties"].get("SecurityGroupIngress", [])
    ingress += [r["Properties"] for r in resources(network, "AWS::EC2::SecurityGroupIngress").values()
                if r["Properties"]["GroupId"] == {"Fn::GetAtt": [endpoint_sg, "GroupId"]}]
    assert ingress and all(rule["SourceSecurityGroupId"] == {"Fn::GetAtt": [worker_sg, "GroupId"]}
                           and rule["FromPort"] == rule["ToPort"] == 443 for rule in ingress)
    (statement,) = endpoint["PolicyDocument"]["Statement"]
    assert statement["Action"] == "bedrock:InvokeModel" and statement["Resource"] == model_arn
    assert statement["Condition"] == {"StringEquals": {"aws:PrincipalAccount": dev["media_account"]}}

    compute = templates["Dev-Compute"]
    grants = [s for s in statements_of_role(compute, "WorkerRole") if "bedrock" in json.dumps(s["Action"])]
    assert grants == [{"Action": "bedrock:InvokeModel", "Effect": "Allow", "Resource": model_arn}]
    for role in ("WebserverRole", "DaemonRole"):
        assert "bedrock" not in json.dumps(statements_of_role(compute, role))
    for task in resources(compute, "AWS::ECS::TaskDefinition").values():
        for container in task["Properties"]["ContainerDefinitions"]:
            env = {e["Name"]: e["Value"] for e in container["Environment"]}
            assert env["PRISM_VISUAL_MODEL_SOURCE"] == env["PRISM_TEXT_MODEL_SOURCE"] == f"bedrock:{model}"
            assert env["PRISM_BEDROCK_REGION"] == dev["region"]  # same region, no cross-region inference
            assert env["PRISM_BEDROCK_EMBEDDING_DIMENSION"] == str(dev["bedrock_embedding_dimension"])

    assert not any(r["Properties"].get("VpcEndpointType") == "Interface"
                   for r in resources(templates["Prod-Network"], "AWS::EC2::VPCEndpoint").values())
    assert "bedrock" not in json.dumps(templates["Prod-Compute"]["Resources"]).lower()  # no grant, no variables


def test_infra_names_match_the_gpu_step_declaration():
    sys.path.insert(0, str(INFRA))
    try:
        from prism_infra import compute as infra_compute
    finally:
        sys.path.remove(str(INFRA))
    from prism_assets import compute

    assert infra_compute.GPU_TASK_DEFINITION_FAMILY == compute.GPU_TASK_DEFINITION_FAMILY
    assert infra_compute.GPU_CAPACITY_PROVIDER == compute.GPU_CAPACITY_PROVIDER
    assert infra_compute.STEP_CONTAINER_NAME == compute.STEP_CONTAINER_NAME
