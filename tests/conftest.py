"""Shared fixtures: generated media, an isolated PRISM_HOME, real Dagster instances, real S3."""

from __future__ import annotations

import os
import signal
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from services import Postgres, S3Server, start_postgres, start_seaweedfs, stop, stop_postgres

from prism.media.synth import AudioTrack, Scene, Speech, Tone, write_title
from prism.settings import Settings

# A suite started from a background shell or a CI harness may inherit SIGINT/SIGTERM as
# ignored; every process the tests start (dagster dev, the compute-log `tail`, services) would
# inherit that too and survive its terminate(). Give the session the default dispositions.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
if signal.getsignal(signal.SIGTERM) == signal.SIG_IGN:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)

# Keep tests off any developer configuration.
for _var in [v for v in os.environ if v.startswith("PRISM_")] + ["DAGSTER_HOME"]:
    os.environ.pop(_var, None)
# One pytest process runs dozens of titles: models stay loaded for it (as for a worker that runs
# titles one after another) instead of being let go after each run's last step and loaded again
# by the next test. Letting go after the last step (the default, "run") is tested on its own in
# tests/test_model_registry.py with the real threaded executor.
os.environ["PRISM_MODEL_RESIDENCY"] = "process"


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> dict[str, Path]:
    """Small generated media covering good and bad deliveries (made once per session)."""
    d = tmp_path_factory.mktemp("media")
    small = {"width": 320, "height": 180, "fps": 25.0}
    files: dict[str, Path] = {}

    files["clip"] = d / "clip.mp4"
    write_title(files["clip"], [Scene(1, 2.0), Scene(2, 2.0)],
                [AudioTrack("eng", (Tone(0.5, 1.0),))], **small)
    files["no_audio"] = d / "no_audio.mp4"
    write_title(files["no_audio"], [Scene(3, 2.0)], [], **small)
    files["audio_only"] = d / "audio_only.m4a"
    write_title(files["audio_only"], [], [AudioTrack("eng", (Tone(0.2, 2.0),))], video=False)
    files["vfr"] = d / "vfr.mp4"
    write_title(files["vfr"], [Scene(4, 3.0)], [AudioTrack("eng")], vfr=True, **small)
    files["rotated"] = d / "rotated.mp4"
    write_title(files["rotated"], [Scene(5, 1.0)], [], rotation=90, **small)
    files["two_tracks"] = d / "two_tracks.mkv"
    write_title(files["two_tracks"], [Scene(6, 2.0)],
                [AudioTrack("eng", (Tone(0.1, 1.0, 440),)),
                 AudioTrack("kor", (Tone(0.1, 1.0, 660),), channels=1)], **small)
    files["faststart"] = d / "faststart.mp4"
    write_title(files["faststart"], [Scene(7, 6.0)], [AudioTrack("eng")], faststart=True, **small)
    files["long_mkv"] = d / "long.mkv"
    write_title(files["long_mkv"], [Scene(7, 10.0)], [AudioTrack("eng")], **small)

    files["zero_byte"] = d / "zero.mp4"
    files["zero_byte"].write_bytes(b"")
    files["not_video"] = d / "notes.mp4"
    files["not_video"].write_text("These are delivery notes, not a video.\n" * 50)
    data = files["clip"].read_bytes()
    files["truncated_mp4"] = d / "truncated.mp4"  # index (moov) at the end is cut off
    files["truncated_mp4"].write_bytes(data[: len(data) // 2])
    mkv = files["long_mkv"].read_bytes()
    files["truncated_mkv"] = d / "truncated.mkv"  # header intact, stream cut at ~40%
    files["truncated_mkv"].write_bytes(mkv[: int(len(mkv) * 0.4)])
    fast = files["faststart"].read_bytes()
    files["truncated_faststart"] = d / "truncated_faststart.mp4"  # index intact, data cut
    files["truncated_faststart"].write_bytes(fast[: len(fast) // 2])
    return files


@pytest.fixture(scope="session")
def speech_title(tmp_path_factory) -> Path:
    """A short title with real espeak-ng speech."""
    path = tmp_path_factory.mktemp("speech") / "speech.mp4"
    write_title(path, [Scene(8, 4.0), Scene(9, 3.0)],
                [AudioTrack("eng", (Speech("Hello from the Prism test suite.", 0.5),))],
                width=320, height=180)
    return path


@pytest.fixture
def prism_home(tmp_path, monkeypatch) -> Settings:
    """An isolated embedded default: PRISM_HOME and DAGSTER_HOME in a temp dir."""
    home = tmp_path / "prism-home"
    monkeypatch.setenv("PRISM_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    (home / "dagster").mkdir(parents=True)
    (home / "dagster" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return Settings()


@pytest.fixture
def instance(prism_home):
    """A persistent (SQLite) Dagster instance in the test's DAGSTER_HOME."""
    from dagster import DagsterInstance

    with DagsterInstance.local_temp(str(prism_home.home / "dagster")) as inst:
        yield inst


@pytest.fixture(autouse=True)
def fresh_boto3_default_session():
    """boto3's default session caches the credentials it first resolved; a test that set other
    (fake) AWS credentials would leave them to the next test's clients (the compute-log manager's,
    for one). Each test's clients resolve from its own environment."""
    import boto3

    boto3.DEFAULT_SESSION = None
    yield
    boto3.DEFAULT_SESSION = None


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory) -> S3Server:
    server = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
    yield server
    stop(server.proc)


@pytest.fixture(scope="session")
def postgres_server() -> Postgres:
    """A throwaway PostgreSQL 15 cluster for the session (production instance storage)."""
    server = start_postgres()
    yield server
    stop_postgres(server)


@pytest.fixture
def postgres_db(postgres_server, monkeypatch) -> Postgres:
    """A fresh database on the real Postgres, with deploy/dagster.yaml's DAGSTER_PG_* env set."""
    name = f"dagster_{uuid.uuid4().hex[:12]}"
    postgres_server.create_database(name)
    db = Postgres(postgres_server.host, postgres_server.port, postgres_server.user, name,
                  postgres_server.proc, postgres_server.workdir)
    for key, value in db.env().items():
        monkeypatch.setenv(key, value)
    return db


@pytest.fixture
def s3_bucket(s3_server, monkeypatch) -> str:
    """A fresh bucket on the real S3 server, with the AWS env pointing at it."""
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    name = f"prism-{uuid.uuid4().hex[:12]}"
    s3_server.client().create_bucket(Bucket=name)
    return name


# Fixtures that start a real external service: a test using one is a `services` test, so
# `-m "not services"` is a real quick run without anyone having to remember the marker.
SERVICE_FIXTURES = {"s3_server", "s3_bucket", "postgres_server", "postgres_db", "dagster_dev",
                    "daemon_with_held_queue", "model_store"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        callspec = getattr(item, "callspec", None)
        # (a fixture parametrized over "s3" reaches the server through getfixturevalue)
        if SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())) or (
                callspec is not None and "s3" in callspec.id.split("-")):
            item.add_marker(pytest.mark.services)
