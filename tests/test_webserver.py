"""`prism ui` (dagster dev on the workspace) boots; its GraphQL API lists the assets and the `titles`
partitions, and the running daemon's delivery sensor turns a delivery into a successful run."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from helpers import deliver
from services import _reset_signals, free_port, stop

REPO = Path(__file__).resolve().parent.parent

ASSETS_QUERY = """
{ assetNodes { assetKey { path } groupName isPartitioned
    partitionDefinition { type dimensionTypes { dynamicPartitionsDefinitionName } } } }
"""
PARTITIONS_QUERY = """
{ assetNodeOrError(assetKey: {path: ["source_probe"]}) { ... on AssetNode { partitionKeys } } }
"""
RUNS_QUERY = """
{ runsOrError(filter: {tags: [{key: "dagster/partition", value: "web-1"}]}) {
    ... on Runs { results { runId status tags { key value } } } } }
"""


@pytest.fixture
def dagster_dev(prism_home, tmp_path):
    port = free_port()
    env = {**os.environ, "PRISM_HOME": str(prism_home.home),
           "DAGSTER_HOME": str(prism_home.home / "dagster"), "PRISM_SENSOR_INTERVAL_S": "2"}
    log = tmp_path / "dagster-dev.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "prism_assets.cli", "ui", "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT,
        start_new_session=True, preexec_fn=_reset_signals)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-3000:]
        try:
            if requests.get(f"{url}/server_info", timeout=2).ok:
                break
        except requests.RequestException:
            pass
        time.sleep(0.5)
    else:
        stop(proc)
        pytest.fail("dagster dev did not come up:\n" + log.read_text()[-3000:])
    yield url
    # `prism ui` interrupts dagster dev (which stops its webserver and daemon, up to 60 s each,
    # then its code server), kills what is left in its group and exits with it.
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(180)
    finally:
        stop(proc)
    deadline = time.monotonic() + 30
    while (left := _processes_using(env["DAGSTER_HOME"])) and time.monotonic() < deadline:
        time.sleep(0.5)
    for pid in left:  # never leak processes into the rest of the session
        os.kill(pid, signal.SIGKILL)
    assert left == [], f"dagster dev left processes behind: {left}\n" + log.read_text()[-2000:]


def _processes_using(dagster_home: str) -> list[int]:
    """PIDs of processes whose environment points at this test's DAGSTER_HOME."""
    needle = f"DAGSTER_HOME={dagster_home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def graphql(url: str, query: str) -> dict:
    response = requests.post(f"{url}/graphql", json={"query": query}, timeout=30)
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


# A whole title graph in a run subprocess, beside a webserver and a daemon: on a loaded 2-core
# machine this outlives the suite's default 300 s.
@pytest.mark.timeout(1800)
@pytest.mark.services
def test_dagster_dev_lists_assets_partitions_and_runs_a_delivery(dagster_dev, prism_home, media):
    nodes = graphql(dagster_dev, ASSETS_QUERY)["assetNodes"]
    by_key = {"/".join(n["assetKey"]["path"]): n for n in nodes}
    assert {"delivery", "source_probe"} <= set(by_key)
    for node in by_key.values():
        assert node["isPartitioned"] and node["partitionDefinition"]["type"] == "DYNAMIC"
        assert node["partitionDefinition"]["dimensionTypes"][0][
            "dynamicPartitionsDefinitionName"] == "titles"

    # A delivery lands; the daemon's sensor adds the partition and launches the run.
    deliver(prism_home, media["clip"], "web-1")
    # Generous: the run is a whole title graph in a subprocess, and the machine may be loaded.
    deadline = time.monotonic() + 600
    status = None
    while time.monotonic() < deadline:
        runs = graphql(dagster_dev, RUNS_QUERY)["runsOrError"]["results"]
        status = runs[0]["status"] if runs else None
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(1)
    assert status == "SUCCESS", f"run status {status}"
    assert len(runs) == 1  # launched once
    assert "web-1" in graphql(dagster_dev, PARTITIONS_QUERY)["assetNodeOrError"]["partitionKeys"]
    assert (prism_home.home / "artifacts/titles/web-1/probe.json").exists()
