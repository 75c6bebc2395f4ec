"""A week of deliveries, in compressed time, through the real sensor and a real dagster-daemon.

Seven daily batches land in the inbox of a fresh PRISM_HOME, a simulated day every few seconds:
new titles, a duplicate (the same manifest sent again), a malformed manifest, and a re-delivery
of an earlier title with a corrected file. A real ``dagster-daemon`` (the workspace's delivery
sensor, ticking every second) launches the runs; after each day the daily batch is evaluated
the daemon's way for that day's 02:00 (its cron cannot be compressed), and whatever it asks
for counts as launched too. At the end the script prints the runs launched per delivery and
checks: one run per good delivery, none for duplicates, malformed manifests reported, every
good delivery materialized exactly once, LanceDB holding one set of rows per title.

    .venv/bin/python scripts/week_of_deliveries.py                  # 7 days, runs executed
    .venv/bin/python scripts/week_of_deliveries.py --days 2 --hold-queue   # counts only (fast)

``--hold-queue`` keeps the daemon's run queue closed: runs are created and queued, never
executed (the materialization and LanceDB checks are skipped). Exit status 0 when every
check holds.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIRST_DAY = date(2026, 11, 16)
FINISHED = ("SUCCESS", "FAILURE", "CANCELED")


def log(msg: str) -> None:
    print(f"[week] {msg}", flush=True)


def make_media(workdir: Path, n: int) -> list[Path]:
    from prism.media.synth import AudioTrack, Scene, Tone, write_title

    files = []
    for i in range(n):
        path = workdir / f"title{i}.mp4"
        write_title(path, [Scene(20 + i, 1.0), Scene(40 + i, 1.0)], [AudioTrack("eng", (Tone(0.2, 0.5),))],
                    width=160, height=90)
        files.append(path)
    return files


def open_instance(home: Path, hold_queue: bool):
    """The embedded instance's configuration (prism.instance; no run at all with the queue held),
    and its storage created here, before the daemon starts: two processes creating one fresh
    SQLite storage at once can both stamp its schema version ("more than one head present")."""
    from dagster import DagsterInstance

    from prism.instance import local_dagster_yaml
    from prism.threads import usable_cores

    dagster_home = home / "dagster"
    dagster_home.mkdir(parents=True, exist_ok=True)
    (dagster_home / "dagster.yaml").write_text(local_dagster_yaml(0 if hold_queue else usable_cores(), 5))
    return DagsterInstance.from_config(str(dagster_home))


def start_daemon(home: Path, out: Path) -> subprocess.Popen:
    dagster_home = home / "dagster"
    env = {**os.environ, "PRISM_HOME": str(home), "DAGSTER_HOME": str(dagster_home),
           "PRISM_SENSOR_INTERVAL_S": "1"}

    def reset() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    command = [sys.executable, "-m", "dagster._daemon", "run", "-w", str(REPO / "workspace.yaml")]
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=open(out, "wb"), stderr=subprocess.STDOUT,
                            start_new_session=True, preexec_fn=reset)


def stop_daemon(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--titles-per-day", type=int, default=2)
    parser.add_argument("--hold-queue", action="store_true", help="queue runs, never execute them")
    parser.add_argument("--home", type=Path, help="PRISM_HOME to use (default: a temp dir)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the runs")
    args = parser.parse_args(argv)
    # Stopped with SIGTERM (even from a shell that ignores it for background jobs): stop the
    # services this script started on the way out (the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    home = (args.home or Path(tempfile.mkdtemp(prefix="prism-week-"))).resolve()
    os.environ["PRISM_HOME"] = str(home)
    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    os.environ["PRISM_SENSOR_LOOKBACK_HOURS"] = "24"
    for var in [v for v in os.environ if v.startswith("PRISM_") and v not in (
            "PRISM_HOME", "PRISM_SENSOR_LOOKBACK_HOURS")]:
        os.environ.pop(var)

    from dagster import AssetKey, AssetRecordsFilter, RunsFilter, build_schedule_context

    from prism.settings import Settings
    from prism_assets.definitions import build_definitions
    from prism_assets.resources import build_resources
    from prism_assets.schedules import daily_delivery_batch
    from prism_assets.tags import MANIFEST_SHA256

    settings = Settings()
    inbox = build_resources(settings)["inbox"].inbox()
    media = make_media(home / "upstream", args.titles_per_day + 1)
    corrected = media[-1]
    log(f"PRISM_HOME {home}; {args.days} days x {args.titles_per_day} titles; "
        f"queue {'held' if args.hold_queue else 'running'}")

    daemon_log = home / "daemon.log"
    instance = open_instance(home, args.hold_queue)
    daemon = start_daemon(home, daemon_log)
    good: dict[str, str] = {}  # manifest digest -> "title (day)"
    day_of: dict[str, int] = {}  # manifest digest -> simulated day (1-based)
    duplicates: list[tuple[int, str]] = []  # (day, digest sent again)
    malformed: list[tuple[int, str]] = []  # (day, inbox key)
    batch_requests: Counter[str] = Counter()
    started = time.monotonic()

    def runs_of(digest: str):
        return instance.get_runs(RunsFilter(tags={MANIFEST_SHA256: digest}))

    def progress() -> tuple[int, int]:
        """Logs the runs launched and finished so far, per simulated day; (launched, finished)."""
        per_day = []
        launched = finished = 0
        for day in sorted(set(day_of.values())):
            runs = [r for d, n in day_of.items() if n == day for r in runs_of(d)]
            done = sum(r.status.value in FINISHED for r in runs)
            launched, finished = launched + len(runs), finished + done
            per_day.append(f"d{day} {done}/{len(runs)}")
        log(f"{time.monotonic() - started:5.0f} s  runs finished/launched: {', '.join(per_day)}  "
            f"(total {finished}/{launched})")
        return launched, finished

    def wait_for(digests: list[str], what: str) -> None:
        deadline = time.monotonic() + 300
        while any(not runs_of(d) for d in digests):
            if daemon.poll() is not None:
                raise SystemExit(f"dagster-daemon exited:\n{daemon_log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise SystemExit(f"the sensor launched no run for {what} in 300 s:\n"
                                 f"{daemon_log.read_text()[-3000:]}")
            time.sleep(0.5)

    try:
        for i in range(args.days):
            day = FIRST_DAY + timedelta(days=i)
            at = f"{day.isoformat()}T10:00:00Z"
            todays: list[str] = []
            for j in range(args.titles_per_day):
                title = f"wk-d{i + 1}-t{j + 1}"
                found = inbox.deliver(media[j], {"title_id": title, "delivered_at": at}, link=False)
                good[found.digest] = f"{title} ({day})"
                todays.append(found.digest)
            if i >= 1:  # the first title of the day before, its exact manifest sent again
                first = f"wk-d{i}-t1"
                prev = FIRST_DAY + timedelta(days=i - 1)
                src = Path(inbox.uri) / prev.isoformat() / f"{first}.json"
                (src.parent / f"{first}-resent.json").write_bytes(src.read_bytes())
                duplicates.append((i + 1, inbox.load_key(f"{prev.isoformat()}/{first}.json").digest))
            if i == 2:  # a corrected file for the first title of day 1, re-delivered
                found = inbox.deliver(corrected, {"title_id": "wk-d1-t1", "delivered_at": at}, link=False)
                good[found.digest] = f"wk-d1-t1 corrected ({day})"
                todays.append(found.digest)
            day_of.update({d: i + 1 for d in todays})
            bad = Path(inbox.uri) / day.isoformat() / f"broken-{i + 1}.json"
            bad.write_bytes(b'{"title_id": "../../etc", "media_uri": ' if i % 2 else b'{"title_id": "x"}')
            malformed.append((i + 1, f"{day.isoformat()}/{bad.name}"))
            wait_for(todays, f"day {day}")

            # 02:00 the next day: the daily batch, evaluated the daemon's way.
            defs = build_definitions(settings)
            with build_schedule_context(
                    instance=instance, repository_def=defs.get_repository_def(),
                    scheduled_execution_time=datetime.combine(day + timedelta(days=1), datetime.min.time(),
                                                              UTC) + timedelta(hours=2),
                    resources=build_resources(settings)) as context:
                result = daily_delivery_batch.evaluate_tick(context)
            for request in result.run_requests or []:
                batch_requests[request.tags[MANIFEST_SHA256]] += 1
            log(f"day {i + 1} ({day}): {len(todays)} delivered, batch asked for "
                f"{len(result.run_requests or [])} run(s) ({result.skip_message or 'runs requested'})")
            progress()

        time.sleep(3)  # a few more sensor ticks: duplicates must still launch nothing
        if not args.hold_queue:
            deadline = time.monotonic() + args.timeout
            last = 0.0
            while True:
                if time.monotonic() - last >= 20:
                    launched, finished = progress()
                    last = time.monotonic()
                    if finished == launched:
                        break
                if daemon.poll() is not None:
                    raise SystemExit(f"dagster-daemon exited:\n{daemon_log.read_text()[-3000:]}")
                if time.monotonic() > deadline:
                    raise SystemExit("runs still unfinished after --timeout")
                time.sleep(2)
                if all(r.status.value in FINISHED for d in good for r in runs_of(d)):
                    progress()
                    break
    finally:
        stop_daemon(daemon)
    elapsed = time.monotonic() - started

    problems: list[str] = []
    sensor_log = daemon_log.read_text(errors="replace")
    mats: Counter[str] = Counter()
    lance: dict[str, tuple[int, int]] = {}  # title -> (shots.parquet rows, LanceDB shot rows)
    if not args.hold_queue:
        store = build_resources(settings)["storage"].store()
        vectors = build_resources(settings)["vector_index"].store()
        for title in sorted({name.split()[0] for name in good.values()}):
            records = instance.fetch_materializations(
                AssetRecordsFilter(asset_key=AssetKey("delivery"), asset_partitions=[title]), limit=100).records
            for rec in records:
                mats[rec.asset_materialization.metadata["manifest_sha256"].value] += 1
            has_shots = store.exists(title, "shots.parquet")
            shots = store.read_table(title, "shots.parquet").num_rows if has_shots else 0
            lance[title] = (shots, vectors.title_row_count("shots", title))

    print(f"\n{'delivery':34} {'runs':>4} {'batch':>5} {'materialized':>12}  status")
    for digest, name in good.items():
        runs = runs_of(digest)
        statuses = ",".join(sorted(r.status.value for r in runs))
        materialized = "-" if args.hold_queue else str(mats[digest])
        print(f"{name:34} {len(runs):>4} {batch_requests[digest]:>5} {materialized:>12}  {statuses}")
        if len(runs) + batch_requests[digest] != 1:
            problems.append(f"{name}: {len(runs)} run(s) + {batch_requests[digest]} batch request(s)")
        if not args.hold_queue:
            if mats[digest] != 1:
                problems.append(f"{name}: materialized {mats[digest]} times")
            if any(r.status.value != "SUCCESS" for r in runs):
                problems.append(f"{name}: run not successful ({statuses})")
    for _, digest in duplicates:
        if len(runs_of(digest)) + batch_requests[digest] != 1:
            problems.append(f"a duplicate of {good[digest]} launched more than the original's one run")
    for _, key in malformed:
        if key not in sensor_log:
            problems.append(f"malformed manifest {key} not reported")

    print(f"\n{'day':12} {'good':>4} {'runs':>4} {'batch':>5} {'materialized':>12} {'dup sent':>8} "
          f"{'dup runs':>8} {'malformed':>9} {'reported':>8}")
    totals = Counter()
    for day in range(1, args.days + 1):
        digests = [d for d, n in day_of.items() if n == day]
        dups = [d for n, d in duplicates if n == day]
        bads = [k for n, k in malformed if n == day]
        row = {"good": len(digests), "runs": sum(len(runs_of(d)) for d in digests),
               "batch": sum(batch_requests[d] for d in digests), "mat": sum(mats[d] for d in digests),
               "dup": len(dups), "dup_runs": sum(len(runs_of(d)) - 1 for d in dups),
               "bad": len(bads), "reported": sum(k in sensor_log for k in bads)}
        totals.update(row)
        label = (FIRST_DAY + timedelta(days=day - 1)).isoformat()
        print(f"{label:12} {row['good']:>4} {row['runs']:>4} {row['batch']:>5} "
              f"{'-' if args.hold_queue else row['mat']:>12} {row['dup']:>8} {row['dup_runs']:>8} "
              f"{row['bad']:>9} {row['reported']:>8}")
    print(f"{'total':12} {totals['good']:>4} {totals['runs']:>4} {totals['batch']:>5} "
          f"{'-' if args.hold_queue else totals['mat']:>12} {totals['dup']:>8} {totals['dup_runs']:>8} "
          f"{totals['bad']:>9} {totals['reported']:>8}")
    print(f"\nduplicates sent: {totals['dup']}, extra runs for them: {totals['dup_runs']}")
    print(f"malformed manifests: {totals['bad']}, reported by the sensor: {totals['reported']}")
    if lance:
        print(f"\n{'title':12} {'shots.parquet rows':>18} {'LanceDB shot rows':>17}")
        for title, (shots, rows) in lance.items():
            print(f"{title:12} {shots:>18} {rows:>17}")
            if rows != shots:
                problems.append(f"{title}: LanceDB holds {rows} shot rows for {shots} shots")

    print(f"\n{len(good)} good deliveries, {sum(len(runs_of(d)) for d in good)} runs launched, "
          f"{sum(batch_requests.values())} batch requests, {elapsed:.0f} s")
    for p in problems:
        print(f"PROBLEM: {p}")
    print("OK: one run per delivery" if not problems else "FAILED")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
