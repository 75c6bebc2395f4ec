"""The export bundle: derived artifacts only, checksummed, manifest last, exact replacement."""

import hashlib
import json

import pytest

from prism.export import (
    BUNDLE_MANIFEST,
    SCHEMA_VERSION,
    ExportRefused,
    ExportTarget,
    publish_bundle,
    select_exportable,
)
from prism.storage import ArtifactStore


def _title(store: ArtifactStore, tid: str, extra: dict[str, bytes] | None = None) -> None:
    store.write_json(tid, "delivery.json", {
        "title_id": tid, "manifest_sha256": "ab" * 32, "media_location": "/secret/media/EP1.mp4",
        "manifest": {"title_id": tid, "media_uri": "EP1.mp4", "title_name": "Pilot", "schema_version": 1},
    })
    store.write_json(tid, "qc_summary.json", {"status": "pass", "profile": "streaming", "counts": {"error": 0}})
    files = {
        "shots.parquet": b"PAR1shots", "keyframes/0000.jpg": b"\xff\xd8jpeg", "transcript.en.vtt": b"WEBVTT\n",
        "report.html": b"<html></html>", "audio/track0.16k.flac": b"fLaC audio bytes",
        "frames/proxy.npy": b"\x93NUMPY", "source_copy.mp4": b"\x00\x00\x00\x18ftypmp42",
    }
    for path, data in (files | (extra or {})).items():
        store.write_bytes(tid, path, data)


def test_selection_keeps_derived_results_and_never_media():
    chosen = select_exportable(["shots.parquet", "audio/track0.16k.flac", "x.mp4", "keyframes/1.jpg",
                                "transcript.ko.srt", "frames/a.npy", "delivery.json", "qc.parquet",
                                "keyframes/evil.wav"])
    assert chosen == ["keyframes/1.jpg", "qc.parquet", "shots.parquet", "transcript.ko.srt"]


@pytest.mark.parametrize("where", ["local", "s3"])
def test_publish_writes_checksummed_files_then_manifest_and_replaces_exactly(where, tmp_path, request):
    if where == "local":
        store = ArtifactStore(str(tmp_path / "artifacts"))
        target = ExportTarget(str(tmp_path / "export"))
    else:
        bucket = request.getfixturevalue("s3_bucket")
        opts = {"endpoint_url": request.getfixturevalue("s3_server").endpoint_url}
        store = ArtifactStore(f"s3://{bucket}/artifacts", opts)
        target = ExportTarget(f"s3://{bucket}/export", opts)
    _title(store, "EP1", {"contact_sheet.jpg": b"\xff\xd8sheet"})
    manifest = publish_bundle(store, "EP1", target)

    listed = {f.path for f in manifest.files}
    assert listed == {"contact_sheet.jpg", "keyframes/0000.jpg", "qc_summary.json", "report.html",
                      "shots.parquet", "transcript.en.vtt"}
    assert set(target.list("EP1")) == listed | {BUNDLE_MANIFEST}
    for f in manifest.files:  # every listed file is in place with the advertised checksum
        data = (target.dir("EP1") / f.path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == f.sha256 and len(data) == f.bytes
    back = target.read_manifest("EP1")
    assert back.schema_version == SCHEMA_VERSION == 2
    assert back.qc["status"] == "pass" and back.title["title_name"] == "Pilot"
    raw = json.dumps(back.model_dump(mode="json"))
    assert "/secret/media" not in raw and "media_uri" not in raw  # no storage paths leave the account

    # Re-publish after the contact sheet went away: the bundle is replaced exactly.
    store.delete("EP1", "contact_sheet.jpg")
    again = publish_bundle(store, "EP1", target)
    assert "contact_sheet.jpg" not in {f.path for f in again.files}
    assert "contact_sheet.jpg" not in target.list("EP1")


def test_publish_refuses_a_title_without_qc(tmp_path):
    store = ArtifactStore(str(tmp_path / "artifacts"))
    store.write_bytes("EP2", "shots.parquet", b"PAR1")
    with pytest.raises(ExportRefused, match="only after QC"):
        publish_bundle(store, "EP2", ExportTarget(str(tmp_path / "export")))
    assert not (tmp_path / "export" / "EP2").exists()


class _RecordingSts:
    """Stands in for AWS STS, which has no local server here; records the call it gets."""

    def __init__(self):
        self.calls = []

    def assume_role(self, **kwargs):
        self.calls.append(kwargs)
        creds = {"AccessKeyId": "AKIAEXPORT", "SecretAccessKey": "s3cr3t", "SessionToken": "tok"}
        return {"Credentials": creds}


def test_export_to_s3_assumes_the_export_role_only_when_configured(tmp_path):
    from resources.export import BundleExport, assumed_role_options

    sts = _RecordingSts()
    role = "arn:aws:iam::222222222222:role/export-writer"
    opts = assumed_role_options(role, region="eu-west-1", sts_client=sts)
    assert sts.calls[0]["RoleArn"].endswith("role/export-writer")
    assert opts == {"key": "AKIAEXPORT", "secret": "s3cr3t", "token": "tok",
                    "client_kwargs": {"region_name": "eu-west-1"}}
    # A local export (the embedded default) never talks to STS, even with a role configured.
    local = BundleExport(uri=str(tmp_path / "export"), role_arn="arn:aws:iam::1:role/x").target()
    assert local.is_local
