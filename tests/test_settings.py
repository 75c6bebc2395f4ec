import os

import pytest

from prism.settings import Settings


def test_settings_defaults_and_production_guard(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = Settings()
    assert s.home == tmp_path / ".prism"
    assert s.artifacts_uri == str(tmp_path / ".prism" / "artifacts")
    assert s.inbox == str(tmp_path / ".prism" / "inbox")
    assert s.lancedb_uri.endswith(".prism/artifacts/lancedb")
    monkeypatch.setenv("PRISM_PROFILE", "production")
    with pytest.raises(ValueError, match="PRISM_STORAGE_URI and PRISM_INBOX_URI"):
        Settings()
    monkeypatch.setenv("PRISM_STORAGE_URI", "s3://media/prism")
    monkeypatch.setenv("PRISM_INBOX_URI", "s3://media/inbox")
    assert Settings().lancedb_uri == "s3://media/prism/lancedb"


def test_embedded_instance_config_limits_runs(tmp_path, monkeypatch):
    from dagster import DagsterInstance

    from prism.instance import ensure_dagster_home

    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("PRISM_HOME", str(tmp_path / "home"))
    home = ensure_dagster_home(Settings())
    assert home == tmp_path / "home" / "dagster"
    instance = DagsterInstance.from_config(str(home))
    queue = instance.get_concurrency_config().run_queue_config
    assert queue.max_concurrent_runs == len(os.sched_getaffinity(0))  # one run per usable core
    assert queue.tag_concurrency_limits[0]["key"] == "dagster/partition"
    # Dagster's default launcher plus a health check of each run's worker, read by run monitoring.
    from prism_assets.launcher import LocalRunLauncher

    assert isinstance(instance.run_launcher, LocalRunLauncher)
    assert instance.run_launcher.supports_check_run_worker_health and instance.run_monitoring_enabled
