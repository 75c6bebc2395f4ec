"""Screenshots of the Dagster UI in headless Chromium, for docs/img/.

Starts ``prism ui`` (dagster dev on the workspace) on a fresh PRISM_HOME, delivers one generated
title, waits until the running daemon's delivery sensor has processed it, and saves PNGs of the
asset graph, the title's run, its partition page with checks, and the delivery sensor.

    .venv/bin/python scripts/ui_screenshots.py            # writes docs/img/ui-*.png

Needs the ``chromium`` binary (Debian package ``chromium``; scripts/setup.sh installs it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
LOCATION = "prism"
RUNS_QUERY = """{ runsOrError(filter: {tags: [{key: "dagster/partition", value: "harbour-e1"}]}) {
    ... on Runs { results { runId status } } } }"""


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    raise SystemExit("no chromium binary: apt-get install chromium")


def screenshot(url: str, out: Path, *, width: int = 1600, height: int = 1000, settle_ms: int = 20000) -> Path:
    """Render ``url`` in headless Chromium and save a PNG (the UI is a single-page app: the virtual
    time budget lets its scripts load data and draw before the picture is taken)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    profile = tempfile.mkdtemp(prefix="prism-chromium-")
    try:
        subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        "--disable-dev-shm-usage", f"--user-data-dir={profile}",
                        f"--window-size={width},{height}", f"--virtual-time-budget={settle_ms}",
                        f"--screenshot={out}", url],
                       check=True, capture_output=True, timeout=180)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def graphql(url: str, query: str) -> dict:
    response = requests.post(f"{url}/graphql", json={"query": query}, timeout=30)
    response.raise_for_status()
    return response.json()["data"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "img")
    parser.add_argument("--home", type=Path, help="reuse this PRISM_HOME (its title already delivered)")
    args = parser.parse_args(argv)
    # Stopped with SIGTERM (even from a shell that ignores it for background jobs): stop the
    # services this script started on the way out (the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    reuse = args.home is not None
    home = args.home.resolve() if reuse else Path(tempfile.mkdtemp(prefix="prism-ui-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRISM_") and k != "DAGSTER_HOME"}
    env.update(PRISM_HOME=str(home), DAGSTER_HOME=str(home / "dagster"), PRISM_SENSOR_INTERVAL_S="2")
    os.environ.update(env)

    from prism.media.synth import AudioTrack, Scene, Speech, write_title
    from prism.settings import Settings
    from prism_assets.resources import build_resources

    video = home / "upstream" / "harbour.mp4"
    if not reuse:
        write_title(video, [Scene(3, 3.0), Scene(8, 3.0)],
                    [AudioTrack("eng", (Speech("Welcome to the harbour.", 0.5),))], width=640, height=360)

    port = free_port()
    url = f"http://127.0.0.1:{port}"

    def reset() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    proc = subprocess.Popen([sys.executable, "-m", "prism_assets.cli", "ui", "--host", "127.0.0.1",
                             "--port", str(port)], cwd=REPO, env=env, stdout=open(home / "ui.log", "wb"),
                            stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=reset)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if requests.get(f"{url}/server_info", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("prism ui did not come up:\n" + (home / "ui.log").read_text()[-3000:])
            time.sleep(1)
        # The UI greets a browser on 127.0.0.1 with a community sign-up dialog until it is marked seen.
        graphql(url, "mutation { setNuxSeen }")
        if not reuse:
            build_resources(Settings())["inbox"].inbox().deliver(
                video, {"title_id": "harbour-e1", "delivered_at": "2026-11-23T10:00:00Z", "series": "harbour"})
        deadline = time.monotonic() + 900
        run_id = None
        while time.monotonic() < deadline:
            runs = graphql(url, RUNS_QUERY)["runsOrError"]["results"]
            if runs and runs[0]["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
                run_id = runs[0]["runId"]
                print(f"run {run_id}: {runs[0]['status']}", flush=True)
                break
            time.sleep(3)
        if run_id is None:
            raise SystemExit("the sensor's run did not finish in 15 minutes")
        pages = {
            "ui-asset-graph.png": f"{url}/asset-groups",
            "ui-visual-group.png": f"{url}/locations/{LOCATION}/asset-groups/visual",
            "ui-run.png": f"{url}/runs/{run_id}",
            "ui-title-partition.png": f"{url}/assets/source_probe?view=partitions&partition=harbour-e1",
            "ui-delivery-sensor.png": f"{url}/locations/{LOCATION}/sensors/delivery_sensor",
        }
        for name, page in pages.items():
            print(screenshot(page, args.out / name), flush=True)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(180)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
