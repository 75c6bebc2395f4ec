"""The embedded Dagster instance: SQLite storage under PRISM_HOME unless DAGSTER_HOME is set."""

from __future__ import annotations

import os
from pathlib import Path

from prism.settings import Settings

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
"""


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers and taskset narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # no sched_getaffinity on this platform
        return max(1, os.cpu_count() or 1)


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
        config.write_text(LOCAL_DAGSTER_YAML.format(max_runs=usable_cores()))
    os.environ["DAGSTER_HOME"] = str(home)
    return home
