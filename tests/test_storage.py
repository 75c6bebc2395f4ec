"""The artifact store against local disk and a real S3-compatible server (SeaweedFS)."""

import pytest

from prism.storage import ArtifactStore, StorageError, StorageUnavailable, with_retries


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path) -> ArtifactStore:
    if request.param == "local":
        return ArtifactStore(str(tmp_path / "artifacts"))
    bucket = request.getfixturevalue("s3_bucket")
    server = request.getfixturevalue("s3_server")
    return ArtifactStore(f"s3://{bucket}/prism", {"endpoint_url": server.endpoint_url})


def test_layout_and_roundtrip(store):
    store.write_json("t1", "probe.json", {"duration_s": 1.5})
    store.write_bytes("t1", "keyframes/0001.jpg", b"\xff\xd8jpeg")
    store.write_text("t1", "transcript.en.vtt", "WEBVTT\n")
    assert store.read_json("t1", "probe.json") == {"duration_s": 1.5}
    assert store.read_bytes("t1", "keyframes/0001.jpg") == b"\xff\xd8jpeg"
    assert store.list_files("t1") == ["keyframes/0001.jpg", "probe.json", "transcript.en.vtt"]
    assert store.list_titles() == ["t1"]
    assert store.exists("t1", "probe.json") and not store.exists("t1", "nope.json")
    assert str(store.title_dir("t1")).endswith("/titles/t1")
    assert str(store.export_dir("t1")).endswith("/export/t1")


def test_rewrite_replaces_exactly(store):
    store.write_json("t1", "probe.json", {"v": 1})
    store.write_json("t1", "probe.json", {"v": 2})
    assert store.read_json("t1", "probe.json") == {"v": 2}
    assert store.list_files("t1") == ["probe.json"]


def test_staged_file_publishes_only_on_success(store):
    with store.staged_file("t1", "shots.parquet") as tmp:
        tmp.write_bytes(b"complete")
    assert store.read_bytes("t1", "shots.parquet") == b"complete"

    with pytest.raises(RuntimeError, match="writer crashed"):
        with store.staged_file("t1", "shots.parquet") as tmp:
            tmp.write_bytes(b"half-writ")
            raise RuntimeError("writer crashed")
    # The old artifact is intact and no temp file is left behind.
    assert store.read_bytes("t1", "shots.parquet") == b"complete"
    assert store.list_files("t1") == ["shots.parquet"]


def test_titles_are_isolated(store):
    store.write_json("a", "probe.json", {"t": "a"})
    store.write_json("b", "probe.json", {"t": "b"})
    store.delete("a", "probe.json")
    assert store.list_files("a") == [] and store.read_json("b", "probe.json") == {"t": "b"}


@pytest.mark.parametrize("rel", ["../b/probe.json", "/etc/passwd", "a/../../x", "./x", "",
                                 "a\\..\\x", "x\x00y"])
def test_relative_path_attacks_refused(rel, tmp_path):
    store = ArtifactStore(str(tmp_path))
    with pytest.raises(StorageError):
        store.write_bytes("t1", rel, b"x")
    assert not (tmp_path / "titles").exists()


def test_local_temp_files_are_not_listed(tmp_path):
    store = ArtifactStore(str(tmp_path))
    store.write_json("t1", "probe.json", {})
    (tmp_path / "titles" / "t1" / ".probe.json.tmp-dead").write_text("crash leftover")
    assert store.list_files("t1") == ["probe.json"]


def test_transient_errors_are_retried_then_succeed():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("connection reset by peer")
        return "ok"

    assert with_retries(flaky, what="test", base_delay=0.001) == "ok"
    assert len(calls) == 3


def test_permanent_errors_are_not_retried():
    calls = []

    def missing():
        calls.append(1)
        raise FileNotFoundError("no such key")

    with pytest.raises(FileNotFoundError):
        with_retries(missing, what="test", base_delay=0.001)
    assert len(calls) == 1


def test_s3_outage_surfaces_after_retries(tmp_path, monkeypatch):
    # A real endpoint with nothing listening: connection refused every time.
    from services import free_port

    monkeypatch.setattr("prism.storage.RETRY_BASE_DELAY_S", 0.01)

    store = ArtifactStore("s3://nobody/prism", {"endpoint_url": f"http://127.0.0.1:{free_port()}",
                                                "key": "k", "secret": "s",
                                                "config_kwargs": {"retries": {"max_attempts": 1}}})
    with pytest.raises(StorageUnavailable) as info:
        store.write_json("t1", "probe.json", {})
    assert "connect" in str(info.value).lower() and "titles/t1/probe.json" in str(info.value)


def test_a_column_selection_reads_only_those_columns_and_local_copy_streams(store, tmp_path):
    import os

    import pyarrow as pa

    rows = 3000
    table = pa.table({"time_s": pa.array([i / 25 for i in range(rows)]),
                      "proxy": pa.array([os.urandom(3888) for _ in range(rows)])})  # like 36x36 RGB
    store.write_table("t1", "frame_signals.parquet", table)
    size = len(store.read_bytes("t1", "frame_signals.parquet"))

    fetched = []
    if not store.is_local:  # count the bytes the S3 server actually sends back
        fs = store.path("t1", "frame_signals.parquet").fs
        fs.connect()
        fs.s3.meta.events.register("after-call.s3.GetObject",
                                   lambda http_response, **_: fetched.append(
                                       int(http_response.headers.get("content-length", 0))))
    got = store.read_table("t1", "frame_signals.parquet", columns=["time_s"])
    assert got.column_names == ["time_s"] and got.column("time_s").to_pylist() == table["time_s"].to_pylist()
    if not store.is_local:
        assert 0 < sum(fetched) < size / 10, (sum(fetched), size)

    with store.local_copy("t1", "frame_signals.parquet") as local:
        assert local.stat().st_size == size
    assert local.exists() == store.is_local  # a temp copy from S3 is gone afterwards


def test_publishing_a_folder_replaces_it_exactly(store, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        (work / name).write_bytes(name.encode())
    store.write_json("t1", "keyframes.json", {"keep": True})  # outside the folder: never touched
    store.publish_files("t1", {f"keyframes/{n}": work / n for n in ("a.jpg", "b.jpg", "c.jpg")},
                        replace_prefixes=("keyframes/",))
    assert store.list_files("t1") == ["keyframes.json", "keyframes/a.jpg", "keyframes/b.jpg", "keyframes/c.jpg"]
    # A re-run that yields fewer files leaves no stale one behind.
    store.publish_files("t1", {"keyframes/b.jpg": work / "a.jpg"}, replace_prefixes=("keyframes/",))
    assert store.list_files("t1") == ["keyframes.json", "keyframes/b.jpg"]
    assert store.read_bytes("t1", "keyframes/b.jpg") == b"a.jpg"
    # remove_stale alone keeps what it is told to keep.
    store.remove_stale("t1", keep={"keyframes.json"}, prefixes=("keyframes",))
    assert store.list_files("t1") == ["keyframes.json"]
