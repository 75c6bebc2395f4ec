"""The Dagster UI in a real browser: headless Chromium renders the asset graph and the delivery sensor
page of `prism ui` (the pictures in docs/img/ come from scripts/ui_screenshots.py the same way)."""

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import requests
from PIL import Image
from test_webserver import dagster_dev  # noqa: F401 - the fixture

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from ui_screenshots import chromium, screenshot  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("chromium") is None and shutil.which("google-chrome") is None,
                                reason="no chromium (scripts/setup.sh test installs it)")


def rendered_text(url: str) -> str:
    profile = tempfile.mkdtemp(prefix="prism-chromium-")
    try:
        command = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                   f"--user-data-dir={profile}", "--virtual-time-budget=20000", "--dump-dom", url]
        return subprocess.run(command, check=True, capture_output=True, text=True, timeout=180).stdout
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def test_chromium_renders_the_asset_graph_and_the_delivery_sensor(dagster_dev, tmp_path):  # noqa: F811
    requests.post(f"{dagster_dev}/graphql", json={"query": "mutation { setNuxSeen }"}, timeout=30)
    png = screenshot(f"{dagster_dev}/asset-groups", tmp_path / "graph.png", width=1200, height=800)
    with Image.open(png) as im:
        assert im.size == (1200, 800)
        colours = im.convert("RGB").getcolors(maxcolors=1 << 20)
    # Not a blank page: many colours, and no single colour covers almost everything.
    assert len(colours) > 50 and max(n for n, _ in colours) < 0.95 * 1200 * 800

    dom = rendered_text(f"{dagster_dev}/locations/prism/sensors/delivery_sensor")
    assert "delivery_sensor" in dom and "Turns each new delivery manifest" in dom
