"""The sample title through the whole per-title graph, production-like.

Profile ``production``; the Dagster instance is deploy/dagster.yaml on a real PostgreSQL with
only the ECS run launcher swapped for local processes (steps run in-process, as ``prism run``
does); inbox, media, artifacts (and LanceDB, under the same root) and compute logs on a real
S3-compatible server. Afterwards the run, the materializations and the check results are read
back from Postgres through a fresh instance and plain SQL.

Data-driven over ``PER_TITLE_ASSETS``: every asset (and every check spec) that exists when the
test runs must have materialized (passed) for the title.
"""

import pytest
from helpers import deliver
from prod_instance import production_like_home

from prism.settings import Profile, Settings
from prism_assets.assets import PER_TITLE_ASSETS
from prism_assets.resources import build_resources
from prism_assets.runner import run_title

TITLE = "prod-sample-1"


def _per_title_keys():
    assets = [key for spec in PER_TITLE_ASSETS for key in spec.keys]
    checks = [key for spec in PER_TITLE_ASSETS for key in spec.check_keys]
    return assets, checks


@pytest.mark.services
def test_sample_title_on_postgres_and_s3(tmp_path, prism_home, postgres_db, s3_bucket, s3_server,
                                         monkeypatch):
    from dagster import AssetCheckSeverity, AssetRecordsFilter, DagsterInstance, DagsterRunStatus

    from prism.media.synth import sample_title

    monkeypatch.setenv("PRISM_PROFILE", "production")
    monkeypatch.setenv("PRISM_STORAGE_URI", f"s3://{s3_bucket}/artifacts")
    monkeypatch.setenv("PRISM_INBOX_URI", f"s3://{s3_bucket}/inbox")
    monkeypatch.setenv("PRISM_COMPUTE_LOGS_BUCKET", s3_bucket)
    monkeypatch.setenv("PRISM_COMPUTE_LOGS_LOCAL_DIR", str(tmp_path / "compute-logs"))
    settings = Settings()
    assert settings.profile is Profile.production
    home = production_like_home(tmp_path / "dagster-home", s3_server.endpoint_url)
    monkeypatch.setenv("DAGSTER_HOME", str(home))

    video = tmp_path / "sample.mp4"
    sample_title(video, width=320, height=180, fps=25.0)
    deliver(settings, video, TITLE)

    with DagsterInstance.from_config(str(home)) as instance:
        outcome = run_title(TITLE, instance, settings=settings)
    assert outcome.success, outcome.failures

    asset_keys, check_keys = _per_title_keys()
    with DagsterInstance.from_config(str(home)) as instance:  # a fresh connection: read back
        run = instance.get_run_by_id(outcome.run_id)
        assert run.status is DagsterRunStatus.SUCCESS
        assert run.tags["dagster/partition"] == TITLE
        for key in asset_keys:
            records = instance.fetch_materializations(
                AssetRecordsFilter(asset_key=key, asset_partitions=[TITLE]), limit=10).records
            assert [r.run_id for r in records] == [outcome.run_id], key.to_user_string()
            # Every artifact an asset points at lies on S3 and exists there.
            for value in records[0].asset_materialization.metadata.values():
                path = getattr(value, "path", None)
                if isinstance(path, str) and path.startswith("s3://"):
                    bucket, _, object_key = path[len("s3://"):].partition("/")
                    assert bucket == s3_bucket
                    s3_server.client().head_object(Bucket=bucket, Key=object_key)
        for key in check_keys:
            record = instance.get_latest_asset_check_evaluation_record(key)
            assert record is not None, key.to_user_string()
            assert record.run_id == outcome.run_id
            evaluation = record.event.asset_check_evaluation
            # Pipeline checks (ERROR) pass; content_qc (WARN) is the content verdict of the sample.
            if evaluation.severity == AssetCheckSeverity.ERROR:
                assert evaluation.passed, key.to_user_string()

    conn = postgres_db.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT status, partition FROM runs WHERE run_id = %s", (outcome.run_id,))
            assert cur.fetchall() == [("SUCCESS", TITLE)]
            cur.execute("SELECT count(*) FROM event_logs WHERE run_id = %s AND dagster_event_type = %s",
                        (outcome.run_id, "ASSET_MATERIALIZATION"))
            assert cur.fetchone()[0] == len(asset_keys)
            cur.execute("SELECT count(*) FROM event_logs WHERE run_id = %s AND dagster_event_type = %s",
                        (outcome.run_id, "ASSET_CHECK_EVALUATION"))
            assert cur.fetchone()[0] == len(check_keys)
    finally:
        conn.close()

    # Artifacts went to S3 only; the container's local disk got none.
    titles_prefix = f"artifacts/titles/{TITLE}/"
    listed = s3_server.client().list_objects_v2(Bucket=s3_bucket, Prefix=titles_prefix)
    stored = {obj["Key"][len(titles_prefix):] for obj in listed.get("Contents", [])}
    assert stored == set(build_resources(settings)["storage"].store().list_files(TITLE))
    assert {"delivery.json", "probe.json"} <= stored
    assert not (prism_home.home / "artifacts").exists()
