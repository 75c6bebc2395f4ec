"""The production Dagster instance config (deploy/dagster.yaml), and a local variant of it."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

PRODUCTION_DAGSTER_YAML = Path(__file__).resolve().parents[1] / "deploy" / "dagster.yaml"


def production_home(home: Path) -> Path:
    """DAGSTER_HOME holding the production dagster.yaml, byte for byte."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(PRODUCTION_DAGSTER_YAML, home / "dagster.yaml")
    return home


def production_like_home(home: Path, s3_endpoint_url: str) -> Path:
    """The production dagster.yaml with what needs ECS replaced: runs launch in local processes.

    Storage (Postgres), compute logs (S3, here pointed at the test's S3 server), concurrency,
    run retries and monitoring stay exactly as in production.
    """
    config = yaml.safe_load(PRODUCTION_DAGSTER_YAML.read_text())
    del config["run_launcher"]  # DefaultRunLauncher
    config["compute_logs"]["config"]["endpoint_url"] = s3_endpoint_url
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return home
