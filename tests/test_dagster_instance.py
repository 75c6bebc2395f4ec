"""deploy/dagster.yaml loads as a real DagsterInstance on a real PostgreSQL."""

import pytest
from prod_instance import production_home


@pytest.fixture
def prod_instance(tmp_path, postgres_db, monkeypatch):
    from dagster import DagsterInstance

    monkeypatch.setenv("PRISM_RUN_TASK_DEFINITION", "prism-run")
    monkeypatch.setenv("PRISM_COMPUTE_LOGS_BUCKET", "prism-artifacts-test")
    monkeypatch.setenv("PRISM_COMPUTE_LOGS_LOCAL_DIR", str(tmp_path / "compute-logs"))
    monkeypatch.setenv("AWS_REGION", "eu-west-1")  # the ECS/S3 clients are only built, never called
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    home = production_home(tmp_path / "dagster-home")
    with DagsterInstance.from_config(str(home)) as instance:
        yield instance


@pytest.mark.services
def test_production_instance_uses_postgres_ecs_and_s3(prod_instance, postgres_db):
    from dagster._config import process_config
    from dagster_aws.ecs import EcsRunLauncher
    from dagster_aws.s3.compute_log_manager import S3ComputeLogManager
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

    inst = prod_instance
    assert isinstance(inst.run_storage, PostgresRunStorage)
    assert isinstance(inst.event_log_storage, PostgresEventLogStorage)
    assert isinstance(inst.schedule_storage, PostgresScheduleStorage)
    assert inst.run_storage.postgres_url.startswith("postgresql+psycopg2://")
    assert f":{postgres_db.port}/{postgres_db.db_name}" in inst.run_storage.postgres_url

    # Building the EcsRunLauncher calls ECS (describe_task_definition), which is not here:
    # check its config against the launcher's own schema, with the environment resolved.
    launcher_data = inst.get_ref().run_launcher_data
    assert launcher_data.class_name == EcsRunLauncher.__name__
    resolved = process_config(EcsRunLauncher.config_type(), launcher_data.config_dict)
    assert resolved.success, resolved.errors
    # The launcher reads the task definition's name from this variable when it starts.
    assert resolved.value["task_definition"] == {"env": "PRISM_RUN_TASK_DEFINITION"}
    assert resolved.value["container_name"] == "run"
    assert resolved.value["use_current_ecs_task_config"] is True
    assert resolved.value["secrets_tag"] is None  # no secretsmanager:ListSecrets needed
    logs = inst.compute_log_manager
    assert isinstance(logs, S3ComputeLogManager)
    assert logs._s3_bucket == "prism-artifacts-test"


@pytest.mark.services
def test_production_instance_limits_runs_gpu_steps_and_retries(prod_instance):
    from dagster._core.run_coordinator import QueuedRunCoordinator

    from prism_assets.compute import GPU_POOL

    inst = prod_instance
    assert isinstance(inst.run_coordinator, QueuedRunCoordinator)
    config = inst.get_concurrency_config()
    assert config.run_queue_config.max_concurrent_runs == 20
    assert [(limit["key"], limit["limit"]) for limit in config.run_queue_config.tag_concurrency_limits] == [
        ("dagster/partition", 1)]
    gpu_limit = config.pool_config.default_pool_limit
    assert gpu_limit == 4
    assert inst.run_retries_enabled and inst.run_retries_max_retries == 2
    assert not inst.run_retries_retry_on_asset_or_op_failure
    assert inst.run_monitoring_enabled and inst.run_monitoring_max_runtime_seconds == 7200

    # The explicit pool limit the daemon sets at start lands in Postgres and is what steps claim.
    inst.event_log_storage.set_concurrency_slots(GPU_POOL, gpu_limit)
    info = inst.event_log_storage.get_concurrency_info(GPU_POOL)
    assert info.slot_count == gpu_limit and info.active_slot_count == 0


@pytest.mark.services
def test_production_instance_persists_to_postgres(prod_instance, postgres_db):
    from prism_assets.partitions import titles

    prod_instance.add_dynamic_partitions(titles.name, ["pg-title-1", "pg-title-2"])
    conn = postgres_db.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT partition FROM dynamic_partitions WHERE partitions_def_name = %s "
                        "ORDER BY partition", (titles.name,))
            assert [row[0] for row in cur.fetchall()] == ["pg-title-1", "pg-title-2"]
            cur.execute("SELECT count(*) FROM information_schema.tables WHERE table_name IN "
                        "('runs', 'event_logs', 'jobs', 'job_ticks', 'alembic_version')")
            assert cur.fetchone()[0] == 5
    finally:
        conn.close()


@pytest.mark.services
def test_step_logs_land_in_the_s3_bucket(tmp_path, postgres_db, s3_bucket, s3_server, monkeypatch):
    """The production compute-log config (prefix, upload on completion) against a real S3 server."""
    import sys

    from dagster import DagsterInstance
    from prod_instance import production_like_home

    monkeypatch.setenv("PRISM_COMPUTE_LOGS_BUCKET", s3_bucket)
    monkeypatch.setenv("PRISM_COMPUTE_LOGS_LOCAL_DIR", str(tmp_path / "compute-logs"))
    home = production_like_home(tmp_path / "dagster-home", s3_server.endpoint_url)
    with DagsterInstance.from_config(str(home)) as inst:
        manager = inst.compute_log_manager
        log_key = ["run-1", "compute_logs", "source_probe"]
        with manager.capture_logs(log_key):
            print("probing title prod-1", flush=True)
            print("no audio track", file=sys.stderr, flush=True)
        listed = s3_server.client().list_objects_v2(Bucket=s3_bucket, Prefix="dagster/compute-logs/")
        keys = sorted(obj["Key"] for obj in listed.get("Contents", []))
        assert keys == ["dagster/compute-logs/storage/run-1/compute_logs/source_probe.err",
                        "dagster/compute-logs/storage/run-1/compute_logs/source_probe.out"]
        stdout = s3_server.client().get_object(Bucket=s3_bucket, Key=keys[1])["Body"].read()
        assert b"probing title prod-1" in stdout
