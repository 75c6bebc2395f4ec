"""Intake cost against the inbox's history: storage calls per sensor tick and per batch tick.

    .venv/bin/python benchmarks/intake_listing.py [--manifests 100000] [--days 365] [--s3]

It fills an inbox with MANIFESTS valid manifests spread over DAYS day prefixes (local
disk, or with --s3 a SeaweedFS server started for the run), then counts the storage
calls that the delivery sensor's tick, the daily batch and `latest_for_title` make, at
a quarter, half and all of the history, beside the old way (list the whole inbox and
parse every manifest). On S3 the counts are the S3 API requests themselves (botocore's
before-call events: ListObjectsV2 pages, HeadObject, GetObject); locally they are the
filesystem calls (directory listings, stats, opens).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from prism.intake.inbox import Inbox
from prism_assets.schedules import deliveries_of_day
from prism_assets.sensors import days_to_list

LOOKBACK_S = 24 * 3600


def manifest(title_id: str, day: date) -> bytes:
    return json.dumps({"title_id": title_id, "media_uri": f"{title_id}/media/master.mp4",
                       "delivered_at": f"{day.isoformat()}T10:00:00Z"}).encode()


def layout(n: int, days: int, start: date) -> list[tuple[str, bytes]]:
    """``n`` manifests spread evenly over ``days`` day prefixes, oldest first."""
    out = []
    for i in range(n):
        day = start + timedelta(days=i * days // n)
        title = f"t{i:06d}"
        out.append((f"{day.isoformat()}/{title}.json", manifest(title, day)))
    return out


class LocalCounter:
    """Counts the filesystem calls an fsspec local filesystem makes (listings, stats, opens)."""

    def __init__(self, fs):
        self.calls: Counter[str] = Counter()
        for name in ("ls", "find", "info", "exists", "open", "_open"):
            original = getattr(fs, name)

            def counted(*args, _name=name, _original=original, **kwargs):
                self.calls[_name] += 1
                return _original(*args, **kwargs)

            setattr(fs, name, counted)


class S3Counter:
    """Counts the S3 API requests s3fs sends (one per ListObjectsV2 page, HeadObject, GetObject)."""

    def __init__(self, fs):
        self.calls: Counter[str] = Counter()
        fs.connect()
        fs.s3.meta.events.register("before-call.s3", self._count)

    def _count(self, model, **_):
        self.calls[model.name] += 1


def tick_costs(inbox: Inbox, counter, newest: date) -> dict[str, int]:
    out = {}

    def measure(label, fn):
        counter.calls.clear()
        fn()
        out[label] = sum(counter.calls.values())

    newest_seen = newest.isoformat()
    measure("sensor tick", lambda: [inbox.load(e) for e in inbox.list_manifests(
        modified_after=time.time() - 60, days=days_to_list(inbox.list_days(), newest_seen, LOOKBACK_S))])
    measure("batch tick", lambda: deliveries_of_day(inbox, newest))
    # `prism run --title` for a title of the newest day (the usual case): it walks back from there.
    newest_title = max(e.key for e in inbox.list_manifests(days=[newest])).rsplit("/", 1)[-1][:-5]
    measure("latest_for_title", lambda: inbox.latest_for_title(newest_title))
    return out


def old_way_cost(inbox: Inbox, counter) -> int:
    counter.calls.clear()
    for entry in inbox.list_manifests():
        inbox.load(entry)
    return sum(counter.calls.values())


def fill(inbox: Inbox, items: list[tuple[str, bytes]]) -> None:
    if inbox.is_local:
        for key, data in items:
            path = Path(inbox.uri) / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return
    with ThreadPoolExecutor(16) as pool:  # many small PUTs: concurrency, not bandwidth
        list(pool.map(lambda item: (inbox.root / item[0]).write_bytes(item[1]), items))


def run(inbox: Inbox, counter_cls, n: int, days: int) -> None:
    start = date(2025, 11, 24)
    items = layout(n, days, start)
    print(f"{'history':>14} {'manifests':>10} {'sensor tick':>12} {'batch tick':>11} {'latest_for_title':>17}"
          f" {'old way (list+parse all)':>25}")
    done = 0
    for share in (0.25, 0.5, 1.0):
        upto = int(days * share)
        last = start + timedelta(days=upto - 1)
        todo = [item for item in items[done:] if item[0][:10] <= last.isoformat()]
        t0 = time.monotonic()
        fill(inbox, todo)
        done += len(todo)
        filled_s = time.monotonic() - t0
        counter = counter_cls(inbox.root.fs)
        newest = start + timedelta(days=upto - 1)
        costs = tick_costs(inbox, counter, newest)
        old = old_way_cost(inbox, counter) if done <= 100_000 else -1
        print(f"{upto:>10} days {done:>10} {costs['sensor tick']:>12} {costs['batch tick']:>11} "
              f"{costs['latest_for_title']:>17} {old:>25}   (filled in {filled_s:.0f} s)", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifests", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--s3", action="store_true", help="on a SeaweedFS server started for the run")
    args = parser.parse_args()
    print(f"intake calls per tick; {args.manifests} manifests over {args.days} days; "
          f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    with tempfile.TemporaryDirectory() as tmp:
        if not args.s3:
            print("local disk (filesystem calls: listings, stats, opens)")
            run(Inbox(str(Path(tmp) / "inbox")), LocalCounter, args.manifests, args.days)
            return 0
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
        from services import start_seaweedfs, stop

        server = start_seaweedfs(Path(tmp) / "weed")
        try:
            server.client().create_bucket(Bucket="inbox")
            options = {"key": server.access_key, "secret": server.secret_key,
                       "client_kwargs": {"endpoint_url": server.endpoint_url, "region_name": "us-east-1"}}
            print("SeaweedFS S3 (S3 API requests)")
            run(Inbox("s3://inbox/deliveries", options), S3Counter, args.manifests, args.days)
        finally:
            stop(server.proc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
