"""The `prism` CLI end to end: sample → deliver → run → status, on the embedded default."""

import json

import pytest
from typer.testing import CliRunner

from prism_assets.cli import app

runner = CliRunner()


def invoke(*args):
    result = runner.invoke(app, list(args), catch_exceptions=False)
    return result


def test_sample_deliver_run_status(prism_home, tmp_path):
    video = tmp_path / "sample.mp4"
    r = invoke("sample", str(video), "--width", "320", "--height", "180")
    assert r.exit_code == 0, r.output
    truth = json.loads(video.with_name("sample.mp4.truth.json").read_text())
    assert truth["cuts"] and truth["gradual"] and truth["speech"] and truth["flashes"]
    assert {g["kind"] for g in truth["gradual"]} == {"fade", "dissolve"}

    r = invoke("deliver", str(video), "--title-id", "sample-1", "--date", "2026-11-23",
               "--series", "Demo", "--episode", "1", "--audio-language", "en")
    assert r.exit_code == 0, r.output
    assert "delivered sample-1" in r.output

    r = invoke("run", "--title", "sample-1")
    assert r.exit_code == 0, r.output
    assert "source_probe" in r.output and "decodable_video: pass" in r.output
    assert "title sample-1 processed" in r.output
    probe = json.loads((prism_home.home / "artifacts/titles/sample-1/probe.json").read_text())
    assert probe["duration_s"] == pytest.approx(truth["duration_s"], abs=0.05)
    assert probe["audio"][0]["language"] == "eng"

    r = invoke("status")
    assert r.exit_code == 0 and "sample-1" in r.output and "SUCCESS" in r.output
    r = invoke("status", "sample-1")
    assert r.exit_code == 0 and "decodable_video: pass" in r.output and "probe.json" in r.output


def test_bad_title_id_is_refused_before_anything_is_written(prism_home, media):
    r = runner.invoke(app, ["deliver", str(media["clip"]), "--title-id", "../escape"])
    assert r.exit_code == 2
    assert "contains '..'" in r.output
    assert not (prism_home.home / "inbox").exists()
    r = runner.invoke(app, ["run", "--title", "a/b"])
    assert r.exit_code == 2 and "characters outside" in r.output


def test_run_of_a_broken_delivery_exits_nonzero_with_the_reason(prism_home, media):
    assert invoke("deliver", str(media["zero_byte"]), "--title-id", "broken-1").exit_code == 0
    r = runner.invoke(app, ["run", "--title", "broken-1"])
    assert r.exit_code == 1
    assert "media file is empty (0 bytes)" in r.output


def test_run_of_an_undelivered_title(prism_home):
    r = runner.invoke(app, ["run", "--title", "nobody"])
    assert r.exit_code == 1 and "no valid delivery manifest" in r.output


def test_run_of_an_unknown_asset_is_a_clear_error(prism_home, media):
    from helpers import deliver

    deliver(prism_home, media["clip"], "cli-sel")
    result = CliRunner().invoke(app, ["run", "--title", "cli-sel", "--asset", "nope"])
    assert result.exit_code == 1 and "unknown assets: nope" in result.output
