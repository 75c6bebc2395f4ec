"""Faults a title survives, with the real parts: a run killed with kill -9 mid visual pass, the S3
server stopped during a run, a full artifact disk, a model source that is not there. In each
case the title completes or fails with a clear error naming it, and no partial artifact is read."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterRunStatus, RunsFilter
from helpers import deliver
from services import _reset_signals, restart_seaweedfs, start_seaweedfs, stop

from prism.liveness import process_token
from prism.media.synth import AudioTrack, Scene, Tone, write_title
from prism.settings import Settings
from prism.storage import ArtifactStore
from prism_assets.resources import build_resources
from prism_assets.runner import run_title
from prism_assets.tags import WORKER

REPO = Path(__file__).resolve().parent.parent
PRISM = str(Path(sys.executable).parent / "prism")


def assert_every_artifact_whole(store: ArtifactStore, title_id: str) -> list[str]:
    """Every artifact a reader can see parses completely (Parquet, JSON), and no temp file is listed."""
    files = store.list_files(title_id)
    for f in files:
        assert ".tmp-" not in f, f
        if f.endswith(".parquet"):
            store.read_table(title_id, f)
        elif f.endswith(".json"):
            store.read_json(title_id, f)
    return files


def step_started(instance, run_id: str, step: str) -> bool:
    return any(e.step_key == step for e in instance.all_logs(run_id, of_type=DagsterEventType.STEP_START))


@pytest.fixture(scope="module")
def long_video(tmp_path_factory) -> Path:
    """Long enough that the visual pass is still decoding when the run is killed."""
    path = tmp_path_factory.mktemp("faults") / "long.mp4"
    write_title(path, [Scene(s, 8.0) for s in range(1, 5)], [], width=640, height=360)
    return path


@pytest.fixture(scope="module")
def short_video(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("faults-short") / "short.mp4"
    write_title(path, [Scene(11, 1.5), Scene(12, 1.5)], [AudioTrack("eng", (Tone(0.2, 1.0),))],
                width=320, height=180)
    return path


def test_kill_9_mid_visual_pass_then_a_rerun_completes(instance, prism_home, long_video):
    deliver(prism_home, long_video, "killed-1")
    log = prism_home.home / "run.log"
    proc = subprocess.Popen([PRISM, "run", "--title", "killed-1"], cwd=prism_home.home.parent,
                            env=dict(os.environ), stdout=open(log, "wb"), stderr=subprocess.STDOUT,
                            start_new_session=True, preexec_fn=_reset_signals)
    try:
        deadline = time.monotonic() + 300
        run_id = None
        while time.monotonic() < deadline and proc.poll() is None:
            runs = instance.get_runs(RunsFilter(tags={"dagster/partition": "killed-1"}))
            run_id = runs[0].run_id if runs else None
            if run_id and step_started(instance, run_id, "frame_signals"):
                break
            time.sleep(0.2)
        assert proc.poll() is None and run_id, log.read_text()[-3000:]
        time.sleep(0.3)  # inside the decode
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        stop(proc)

    store = build_resources(prism_home)["storage"].store()
    assert "frame_signals.parquet" not in assert_every_artifact_whole(store, "killed-1")
    killed = instance.get_run_by_id(run_id)
    assert killed.status == DagsterRunStatus.STARTED and killed.tags[WORKER]  # nobody reported its end

    outcome = run_title("killed-1", instance, settings=prism_home)
    assert outcome.success, outcome.failures
    # The killed run is recorded as failed, with why; the re-run published a whole title.
    killed = instance.get_run_by_id(run_id)
    assert killed.status == DagsterRunStatus.FAILURE
    files = assert_every_artifact_whole(store, "killed-1")
    assert {"frame_signals.parquet", "shots.parquet", "keyframes.parquet", "qc.parquet",
            "report.html"} <= set(files)
    title_dir = Path(str(store.title_dir("killed-1").path))
    assert not [p for p in title_dir.rglob("*") if ".tmp-" in p.name]


def test_temp_files_of_a_killed_writer_are_never_read_and_are_swept(tmp_path):
    """A writer killed inside a staged write leaves its temp file: invisible to readers, the artifact
    itself absent (not torn); the next run's sweep removes it, while a live writer's stays."""
    store = ArtifactStore(str(tmp_path / "artifacts"))
    store.write_json("t1", "probe.json", {"duration_s": 1.0})  # an earlier, whole version
    ready = tmp_path / "ready"
    writer = subprocess.Popen([sys.executable, "-c", f"""
import pathlib, time
from prism.storage import ArtifactStore
store = ArtifactStore({str(tmp_path / 'artifacts')!r})
with store.staged_file("t1", "shots.parquet") as tmp:
    tmp.write_bytes(b"PAR1" + b"half a parquet file")
    with store.staged_file("t1", "probe.json") as tmp2:
        tmp2.write_bytes(b'{{"duration_s": ')
        pathlib.Path({str(ready)!r}).touch()
        time.sleep(600)
"""])
    deadline = time.monotonic() + 60
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    live = [p.name for p in Path(str(store.title_dir("t1").path)).iterdir() if ".tmp-" in p.name]
    assert len(live) == 2 and store.sweep_orphaned_temps("t1") == []  # its writer still runs
    writer.send_signal(signal.SIGKILL)
    writer.wait(10)

    assert store.list_files("t1") == ["probe.json"]
    assert store.read_json("t1", "probe.json") == {"duration_s": 1.0}
    assert not store.exists("t1", "shots.parquet")
    assert sorted(store.sweep_orphaned_temps("t1")) == sorted(live)
    assert [p.name for p in Path(str(store.title_dir("t1").path)).iterdir()] == ["probe.json"]


@pytest.fixture
def own_s3(tmp_path, monkeypatch):
    """A SeaweedFS of this test's own (the session's server is shared: it must not be stopped)."""
    server = start_seaweedfs(tmp_path / "weed")
    for key, value in server.env().items():
        monkeypatch.setenv(key, value)
    # botocore's own retries off: what survives the outage below is Prism's retry (prism.storage),
    # and an outage longer than it surfaces in seconds rather than minutes.
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    server.client().create_bucket(Bucket="prism")
    monkeypatch.setenv("PRISM_STORAGE_URI", "s3://prism/artifacts")
    holder = {"server": server}
    yield holder
    stop(holder["server"].proc)


@pytest.mark.services
def test_s3_down_mid_run_is_retried_or_named_and_a_rerun_completes(instance, prism_home, own_s3,
                                                                      short_video):
    settings = Settings()
    deliver(settings, short_video, "s3-fault")
    store = build_resources(settings)["storage"].store()

    # 1. The server stops right after the title's first artifact is written and is back 3 s later:
    #    the writes in between are retried, and the title completes.
    def outage():
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                if store.exists("s3-fault", "delivery.json"):
                    break
            except Exception:  # noqa: BLE001 - not there yet
                pass
            time.sleep(0.05)
        stop(own_s3["server"].proc, sig=signal.SIGKILL)
        window.append(time.time())
        time.sleep(3.0)
        own_s3["server"] = restart_seaweedfs(own_s3["server"])
        window.append(time.time())

    window: list[float] = []
    watcher = threading.Thread(target=outage)
    watcher.start()
    outcome = run_title("s3-fault", instance, settings=settings)
    watcher.join()
    assert outcome.success, outcome.failures
    run = instance.get_run_record_by_id(outcome.run_id)
    assert run.start_time < window[0] < window[1] < run.end_time  # the outage fell inside the run
    assert {"probe.json", "shots.parquet", "qc.parquet", "report.html"} <= set(
        assert_every_artifact_whole(store, "s3-fault"))

    # 2. Down for longer than the retries: the steps fail naming the title and what they could not
    #    reach; back up, a re-run completes.
    stop(own_s3["server"].proc, sig=signal.SIGKILL)
    try:
        down = run_title("s3-fault", instance, settings=settings)
    finally:
        own_s3["server"] = restart_seaweedfs(own_s3["server"])
    assert not down.success
    assert down.failures and all("s3-fault" in f for f in down.failures), down.failures
    assert any("storage unavailable" in f for f in down.failures), down.failures
    again = run_title("s3-fault", instance, settings=settings)
    assert again.success, again.failures
    assert_every_artifact_whole(store, "s3-fault")


@pytest.fixture
def small_disk(tmp_path):
    """A 128 KiB tmpfs as the artifact root (a real ENOSPC), when this user may mount one."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128k", "tmpfs", str(mount)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_artifact_disk_fails_the_title_clearly_and_leaves_no_temp_files(
        instance, prism_home, small_disk, short_video, monkeypatch):
    monkeypatch.setenv("PRISM_STORAGE_URI", str(small_disk / "artifacts"))
    settings = Settings()
    deliver(settings, short_video, "disk-full")
    outcome = run_title("disk-full", instance, settings=settings)
    assert not outcome.success
    message = " | ".join(outcome.failures)
    assert "artifact disk full" in message and "titles/disk-full/" in message, message
    store = build_resources(settings)["storage"].store()
    assert_every_artifact_whole(store, "disk-full")
    title_dir = small_disk / "artifacts" / "titles" / "disk-full"
    assert not [p for p in title_dir.rglob("*") if ".tmp-" in p.name]


@pytest.mark.parametrize("setting, resource", [
    ("PRISM_ASR_MODEL_SOURCE", "asr"),
    ("PRISM_VISUAL_MODEL_SOURCE", "visual_embedding"),
    ("PRISM_TEXT_MODEL_SOURCE", "text_embedding"),
    ("PRISM_DIARIZATION_MODEL_SOURCE", "diarization"),
])
def test_a_model_source_that_is_not_there_is_an_error_naming_the_setting(prism_home, tmp_path, monkeypatch,
                                                                         setting, resource):
    missing = tmp_path / "model-store" / "nothing-here"
    monkeypatch.setenv(setting, str(missing))
    if resource == "diarization":
        monkeypatch.setenv("PRISM_DIARIZATION_BACKEND", "pyannote")
    handle = build_resources(Settings())[resource]
    load = {"asr": lambda: handle.transcriber(), "visual_embedding": lambda: handle.embedder(),
            "text_embedding": lambda: handle.embedder(), "diarization": lambda: handle.diarizer()}[resource]
    with pytest.raises(Exception) as info:
        load()
    assert setting in str(info.value) and str(missing) in str(info.value), str(info.value)


def test_process_tokens_tell_a_dead_process_from_a_live_one():
    from prism.liveness import is_dead

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    token = process_token(child.pid)
    child.wait()
    assert is_dead(token) and not is_dead(process_token())
    assert not is_dead("00000000-1-1")  # another host's process: only that host can tell
    assert json.loads(json.dumps(token)) == token


@pytest.mark.timeout(420)
def test_a_daemon_launched_run_whose_worker_is_killed_is_marked_failed(prism_home, short_video, tmp_path):
    """A run the daemon launched (the delivery sensor's), killed with kill -9 together with the daemon
    and its code server (a crash, the OOM killer, ``dagster dev`` killed): nothing that launched it
    is left to notice, so it reads STARTED. The next daemon's run monitoring reads the worker token
    the executor recorded and marks the run failed, saying why."""
    from dagster import DagsterInstance

    from prism.instance import local_dagster_yaml
    from prism.liveness import TOKEN_RE

    dagster_home = prism_home.home / "dagster"
    (dagster_home / "dagster.yaml").write_text(local_dagster_yaml(1, monitor_s=1))
    deliver(prism_home, short_video, "daemon-kill")
    log = tmp_path / "daemon.log"

    def start_daemon() -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "dagster._daemon", "run", "-w", str(REPO / "workspace.yaml")], cwd=REPO,
            env={**os.environ, "PRISM_SENSOR_INTERVAL_S": "1"}, stdout=open(log, "ab"),
            stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_reset_signals)

    # The storage is created here before the daemon opens it (two processes creating one fresh
    # SQLite storage at once can both stamp its schema version).
    instance = DagsterInstance.from_config(str(dagster_home))
    daemon = start_daemon()
    try:

        def run_with_worker():
            runs = instance.get_runs(RunsFilter(tags={"dagster/partition": "daemon-kill"}))
            return next((r for r in runs if WORKER in r.tags), None)

        deadline = time.monotonic() + 300
        while (run := run_with_worker()) is None:
            assert daemon.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        worker = run.tags[WORKER]
        assert run.status == DagsterRunStatus.STARTED
        os.kill(int(TOKEN_RE.fullmatch(worker)["pid"]), signal.SIGKILL)
        stop(daemon, sig=signal.SIGKILL)  # the daemon and its code server go with it
        time.sleep(2)
        assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.STARTED  # no one noticed

        daemon = start_daemon()
        deadline = time.monotonic() + 180
        while instance.get_run_by_id(run.run_id).status != DagsterRunStatus.FAILURE:
            assert daemon.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        failure = instance.all_logs(run.run_id, of_type=DagsterEventType.RUN_FAILURE)[-1]
        assert f"the process running this run ({worker}) is gone (killed or crashed)" in failure.message
    finally:
        stop(daemon, timeout=30)
