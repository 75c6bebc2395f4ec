"""The embedded Dagster instance: SQLite storage under PRISM_HOME unless DAGSTER_HOME is set."""

from __future__ import annotations

import os
from pathlib import Path

from prism.settings import Settings
from prism.threads import usable_cores

# Local title runs share this machine's cores: more concurrent runs than cores only thrash
# (each run is a decode plus model inference). One run per title at a time: the sensor and
# the daily batch may both ask for the same title.
LOCAL_DAGSTER_YAML = """\
# Written by Prism for the embedded default (SQLite storage in this folder).
telemetry:
  enabled: false
run_queue:
  max_concurrent_runs: {max_runs}
  tag_concurrency_limits:
    - key: dagster/partition
      value:
        applyLimitPerUniqueValue: true
      limit: 1
# Dagster's default launcher, plus a health check of each run's worker process: the run
# monitoring daemon marks failed a run whose worker was killed (kill -9, OOM) instead of
# leaving it STARTED for ever.
run_launcher:
  module: prism_assets.launcher
  class: LocalRunLauncher
run_monitoring:
  enabled: true
  poll_interval_seconds: {monitor_s}
"""


def local_dagster_yaml(max_runs: int, monitor_s: int = 15) -> str:
    """The embedded instance's dagster.yaml: at most ``max_runs`` runs at once (0 holds the queue),
    run workers checked every ``monitor_s`` seconds."""
    return LOCAL_DAGSTER_YAML.format(max_runs=max_runs, monitor_s=monitor_s)


def ensure_dagster_home(settings: Settings) -> Path:
    """Point DAGSTER_HOME at the embedded instance (created on first use) unless already set."""
    if os.environ.get("DAGSTER_HOME"):
        home = Path(os.environ["DAGSTER_HOME"])
        home.mkdir(parents=True, exist_ok=True)
        return home
    home = settings.home / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(local_dagster_yaml(usable_cores()))
    os.environ["DAGSTER_HOME"] = str(home)
    return home
