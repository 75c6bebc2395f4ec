"""One step's memory on its own: an asset invoked directly on an already processed title.

``end_to_end.py`` attributes RSS to the steps in flight, but with the branches overlapped a
step's figure includes whatever ran beside it. This script takes the work directory such a run
left (``<workdir>/home`` with the title ``bench`` processed, ``<workdir>/models`` the model cache)
and, for each asset named, starts a fresh process that imports Prism, builds the resources from
that home and invokes the asset with a built context (as ``tests/test_assets_direct.py`` does),
sampling its RSS every 0.5 s. It prints the RSS before the step (imports only), the step's peak,
the RSS at its end and its wall time. Run it on the 10- and the 30-minute work directories to see
whether a step's memory grows with the title. The step rewrites its own artifacts in that home.

    .venv/bin/python benchmarks/step_memory.py WORKDIR speakers onscreen_text transcript
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ASSET_MODULES = ("visual", "audio", "subtitles", "embeddings", "qc")


def measure(workdir: Path, asset: str, title_id: str) -> dict:
    """The child side: one asset, this process."""
    os.environ["PRISM_HOME"] = str(workdir / "home")
    os.environ.pop("DAGSTER_HOME", None)
    os.environ["PRISM_MODEL_CACHE_DIR"] = str(workdir / "models")

    def rss_mb() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096 / 1e6

    samples: list[float] = []

    def sample() -> None:
        while True:
            samples.append(rss_mb())
            time.sleep(0.5)

    from dagster import build_asset_context

    from prism.settings import Settings
    from prism_assets.resources import build_resources

    modules = [importlib.import_module(f"prism_assets.assets.{m}") for m in ASSET_MODULES]
    fn = next((getattr(m, asset) for m in modules if hasattr(m, asset)), None)
    if fn is None:
        raise SystemExit(f"no asset named {asset}")
    resources = build_resources(Settings())
    before = rss_mb()
    threading.Thread(target=sample, daemon=True).start()
    started = time.perf_counter()
    fn(build_asset_context(partition_key=title_id, resources=resources))
    wall = time.perf_counter() - started
    samples.append(rss_mb())
    return {"asset": asset, "before_mb": round(before), "peak_mb": round(max(samples)),
            "end_mb": round(samples[-1]), "wall_s": round(wall, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workdir", type=Path)
    parser.add_argument("assets", nargs="+")
    parser.add_argument("--title", default="bench")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.workdir, args.assets[0], args.title)))
        return
    print(f"{'step':<24} {'before MB':>10} {'peak MB':>8} {'end MB':>7} {'wall s':>7}   ({args.workdir})")
    for asset in args.assets:
        argv = [sys.executable, __file__, str(args.workdir), asset, "--title", args.title, "--child"]
        out = subprocess.run(argv, capture_output=True, text=True)
        if out.returncode != 0:
            why = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"
            print(f"{asset:<24} failed: {why}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{asset:<24} {r['before_mb']:>10} {r['peak_mb']:>8} {r['end_mb']:>7} {r['wall_s']:>7}",
              flush=True)


if __name__ == "__main__":
    main()
