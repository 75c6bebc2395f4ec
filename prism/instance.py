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
"""


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
