"""The ``prism`` command: deliver titles, run them, see their status, open the UI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from prism.ids import InvalidTitleId, validate_title_id
from prism.instance import ensure_dagster_home
from prism.settings import get_settings

app = typer.Typer(
    name="prism",
    help="Prism: per-title video preprocessing (shots, keyframes, transcripts, QC, vectors).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
console = Console()
err = Console(stderr=True)

SAMPLE_TITLE_ID = "sample-title"
REPO_ROOT = Path(__file__).resolve().parent.parent


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def _title(value: str) -> str:
    try:
        return validate_title_id(value)
    except InvalidTitleId as exc:
        raise typer.BadParameter(str(exc)) from None


@app.command()
def sample(
    out: Annotated[Path | None, typer.Argument(help="Where to write the sample video.")] = None,
    width: int = 640,
    height: int = 360,
    fps: float = 25.0,
) -> None:
    """Generate the sample title: known cuts, a fade through black, a dissolve, a flash,
    real synthetic speech and a silent stretch (ground truth in <out>.truth.json)."""
    from prism.media.synth import espeak_available, sample_title

    settings = get_settings()
    out = out or settings.home / "samples" / f"{SAMPLE_TITLE_ID}.mp4"
    if not espeak_available():
        raise _fail("espeak-ng is required for the sample's speech (apt-get install espeak-ng)")
    with console.status(f"rendering sample title to {out} …"):
        truth = sample_title(out, width=width, height=height, fps=fps)
    console.print(
        f"[green]sample written[/] {out} — {truth.duration_s:.1f}s, {truth.frame_count} frames, "
        f"{len(truth.cuts)} cuts, {len(truth.gradual)} gradual transitions, "
        f"{len(truth.speech)} speech lines"
    )


@app.command()
def deliver(
    video: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    title_id: Annotated[str, typer.Option("--title-id", callback=_title)],
    delivery_date: Annotated[
        datetime | None, typer.Option("--date", formats=["%Y-%m-%d"],
                                      help="Delivery date (UTC); default today.")] = None,
    title_name: str | None = None,
    series: str | None = None,
    season: int | None = None,
    episode: int | None = None,
    provider: str | None = None,
    audio_language: Annotated[list[str] | None, typer.Option(help="Repeat per track.")] = None,
    copy: Annotated[bool, typer.Option(help="Copy media instead of hard-linking it.")] = False,
) -> None:
    """Drop VIDEO and its manifest into the inbox, as the upstream platform would."""
    from pydantic import ValidationError

    from prism_assets.resources import build_resources

    settings = get_settings()
    now = datetime.now(UTC)
    delivered_at = now if delivery_date is None else datetime.combine(
        delivery_date.date(), time(12, 0), UTC)
    fields = {
        "title_id": title_id, "delivered_at": delivered_at.isoformat(), "title_name": title_name,
        "series": series, "season": season, "episode": episode, "provider": provider,
        "audio_languages": audio_language or [],
    }
    inbox = build_resources(settings)["inbox"].inbox()
    try:
        found = inbox.deliver(video.resolve(), {k: v for k, v in fields.items() if v is not None},
                              link=not copy)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise _fail(f"invalid delivery: {first['loc'][0]}: {first['msg']}") from None
    console.print(f"[green]delivered[/] {title_id} → {inbox.location(found.key)}")


def _instance():
    from dagster import DagsterInstance

    ensure_dagster_home(get_settings())
    return DagsterInstance.get()


@app.command()
def run(
    title: Annotated[str, typer.Option("--title", callback=_title, help="Title id.")],
    manifest: Annotated[str | None, typer.Option(help="Inbox key of the manifest to use.")] = None,
    asset: Annotated[list[str] | None, typer.Option(
        help="Only this asset and what it needs (repeatable), e.g. --asset keyframes.")] = None,
) -> None:
    """Materialize the whole per-title asset graph for TITLE, in-process, with progress."""
    _run_with_progress(title, manifest, asset)


def _run_with_progress(title: str, manifest: str | None = None, assets: list[str] | None = None):
    from prism_assets.runner import NoDelivery, run_title

    settings = get_settings()
    instance = _instance()
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        tasks: dict[str, int] = {}

        def on_progress(p) -> None:
            if p.kind == "step_start":
                tasks[p.step] = progress.add_task(f"[cyan]{p.step}[/] running", total=1)
            elif p.kind in ("step_success", "step_failure", "step_skipped") and p.step:
                task = tasks.get(p.step) or progress.add_task("", total=1)
                label = {"step_success": "[green]done[/]", "step_failure": "[red]failed[/]",
                         "step_skipped": "[yellow]skipped[/]"}[p.kind]
                progress.update(task, description=f"[cyan]{p.step}[/] {label}", completed=1)
            elif p.kind == "check":
                mark = "[green]pass[/]" if p.passed else (
                    "[yellow]fail[/] (content verdict, see the report)" if not p.blocking else "[red]FAIL[/]")
                progress.console.print(f"  check {p.message}: {mark}")
            elif p.kind == "materialization":
                progress.console.print(f"  materialized [bold]{p.message}[/]")

        try:
            outcome = run_title(title, instance, settings=settings, manifest_key=manifest,
                                on_progress=on_progress, assets=assets)
        except (NoDelivery, ValueError) as exc:
            raise _fail(str(exc)) from None
    store_root = settings.artifacts_uri
    if outcome.success:
        console.print(f"[bold green]title {title} processed[/] (run {outcome.run_id})")
    else:
        for failure in outcome.failures:
            err.print(f"[red]✗[/] {failure}")
        for check in outcome.failed_error_checks:
            err.print(f"[red]✗[/] check {check} failed")
    verdict = outcome.checks.get("content_qc")
    if verdict is not None:
        shown = "[green]pass[/]" if verdict else "[yellow]fail[/] (findings in the report)"
        console.print(f"content QC ({settings.qc_profile} profile): {shown}")
    console.print(f"artifacts: {store_root}/titles/{title}/")
    if outcome.success and "report" in outcome.materialized:
        console.print(f"report: {store_root}/titles/{title}/report.html")
    if not outcome.success:
        raise typer.Exit(1)
    return outcome


@app.command()
def status(title: Annotated[str | None, typer.Argument(help="A title id for details.")] = None,
           ) -> None:
    """What is materialized for each title (or one title in detail), and its checks."""
    from prism_assets.status import known_titles, title_status

    instance = _instance()
    if title is None:
        names = known_titles(instance)
        if not names:
            console.print("no titles yet — deliver one: prism deliver VIDEO --title-id ID")
            return
        # One row per title; assets are counted, not given a column each (the graph has many).
        table = Table("title", "last run", "assets", "missing", "checks", "content QC")
        for name in names:
            st = title_status(instance, name)
            has_checks = any(a.error_checks for a in st.assets)
            missing = [a.asset for a in st.assets if not a.materialized_at]
            table.add_row(
                name, st.last_run_status or "-",
                f"{len(st.assets) - len(missing)}/{len(st.assets)}", ", ".join(missing) or "-",
                "-" if not has_checks else ("[green]pass[/]" if st.checks_pass else "[red]FAIL[/]"),
                {"pass": "[green]pass[/]", "fail": "[yellow]fail[/]"}.get(st.qc_status or "", "-"),
            )
        console.print(table)
        return
    title = _title(title)
    st = title_status(instance, title)
    console.print(f"[bold]{title}[/] — last run {st.last_run_id or '-'} ({st.last_run_status or 'never run'})")
    table = Table("asset", "materialized (UTC)", "checks")
    for a in st.assets:
        checks = ", ".join(f"{n}: {'pass' if ok else 'FAIL'}" for n, ok in a.checks.items())
        when = a.materialized_at.strftime("%Y-%m-%d %H:%M:%S") if a.materialized_at else "-"
        table.add_row(a.asset, when, checks or "-")
    console.print(table)
    for a in st.assets:
        if a.metadata:
            console.print(f"[bold]{a.asset}[/]")
            for k, v in a.metadata.items():
                console.print(f"  {k}: {v}", overflow="fold")
    from prism_assets.resources import build_resources

    store = build_resources(get_settings())["storage"].store()
    files = store.list_files(title)
    console.print(f"artifacts in {store.uri}/titles/{title}: {', '.join(files) or 'none'}")


@app.command()
def search(
    query: Annotated[str | None, typer.Argument(help="What to find: words of a line, or a description "
                                                "of a picture (text→shot needs a CLIP/SigLIP model).")] = None,
    like: Annotated[str | None, typer.Option("--like", metavar="TITLE:SHOT",
                                             help="Shots that look like this one.")] = None,
    title: Annotated[str | None, typer.Option("--title", help="Only this title.")] = None,
    k: Annotated[int, typer.Option("--k", min=1, max=200, help="Results per kind.")] = 10,
    scope: Annotated[str, typer.Option("--in", help="all | shots | transcripts | onscreen")] = "all",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Search the catalogue: shots by description or likeness, lines of dialogue and on-screen text (signs,
    credits, burned-in subtitles) by meaning and words."""
    import json

    from prism.catalogue import open_searcher
    from prism.embeddings.base import EmbeddingError
    from prism.vectors.search import SearchError
    from prism.vectors.store import VectorStoreError

    if scope not in ("all", "shots", "transcripts", "onscreen"):
        raise typer.BadParameter("--in must be all, shots, transcripts or onscreen")
    settings = get_settings()
    try:
        with err.status("searching …") if not as_json else _nullcontext():
            results = open_searcher(settings).search(query, like=like, k=k, title_id=title, scope=scope)
    except (SearchError, EmbeddingError, VectorStoreError) as exc:
        raise _fail(str(exc)) from None
    if as_json:
        print(json.dumps(results.to_dict(), ensure_ascii=False, indent=2))
        return
    titles_root = f"{settings.artifacts_uri.rstrip('/')}/titles"
    if like is not None or scope in ("all", "shots"):
        heading = f"shots like {like}" if like else f"shots for “{results.query}”"
        if results.shots:
            table = Table("score", "title", "shot", "time", title=heading, title_justify="left",
                          caption=f"keyframes are under {titles_root}/", caption_justify="left")
            table.add_column("keyframe", overflow="fold")
            for h in results.shots:
                table.add_row(f"{h.score:.3f}", h.title_id, str(h.shot_index),
                              f"{_clock(h.start_s)}–{_clock(h.end_s)}", f"{h.title_id}/{h.keyframe_path}")
            console.print(table)
        elif not results.notes:
            console.print(f"{heading}: no results")
    for note in results.notes:
        console.print(f"[yellow]shots:[/] {note}")
    if like is None and scope in ("all", "transcripts"):
        heading = f"dialogue for “{results.query}”"
        if results.lines:
            table = Table("sim", "title", "track", "time", title=heading, title_justify="left")
            table.add_column("line", overflow="fold")
            for line in results.lines:
                table.add_row(f"{line.similarity:.3f}", line.title_id, f"{line.track} {line.language or ''}",
                              f"{_clock(line.start_s)}–{_clock(line.end_s)}", line.text)
            console.print(table)
        else:
            console.print(f"{heading}: no results")
    if like is None and scope in ("all", "onscreen"):
        heading = f"on-screen text for “{results.query}”"
        if results.onscreen:
            table = Table("score", "title", "kind", "time", "shot", title=heading, title_justify="left")
            table.add_column("text", overflow="fold")
            for hit in results.onscreen:
                table.add_row(f"{hit.score:.3f}", hit.title_id, hit.kind,
                              f"{_clock(hit.start_s)}–{_clock(hit.end_s)}", str(hit.shot_index), hit.text)
            console.print(table)
        else:
            console.print(f"{heading}: no results")


@app.command()
def voices(
    series: Annotated[str, typer.Argument(help="The series name, as the delivery manifests give it.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """A series' voices: each series voice with the episodes it speaks in and its speaking time."""
    import json

    from prism.vectors.store import VectorStore, VectorStoreError
    from prism.vectors.voices import voice_summary

    settings = get_settings()
    store = VectorStore.configured(settings.lancedb_uri, s3_endpoint_url=settings.s3.endpoint_url,
                                   s3_region=settings.s3.region)
    try:
        rows = store.series_voices(series)
    except VectorStoreError as exc:
        raise _fail(str(exc)) from None
    summary = voice_summary(rows.drop_columns(["vector"]).to_pylist() if rows.num_rows else [])
    if as_json:
        print(json.dumps({"series": series, "voices": summary}, ensure_ascii=False, indent=2))
        return
    if not summary:
        console.print(f"no voices for series “{series}” (materialize `voices` for its episodes first)")
        return
    table = Table("series voice", "speaking", "episodes", title=f"voices of “{series}”", title_justify="left")
    table.add_column("appearances (title track:speaker time)", overflow="fold")
    for voice in summary:
        episodes = sorted({(a["season"], a["episode"], a["title_id"]) for a in voice["appearances"]},
                          key=lambda e: (e[0] or 0, e[1] or 0, e[2]))
        table.add_row(voice["series_voice"], _clock(voice["speaking_s"]), str(len(episodes)),
                      ", ".join(f"{a['title_id']} {a['track']}:{a['speaker']} {_clock(a['speaking_s'])}"
                                for a in voice["appearances"]))
    console.print(table)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(max(seconds, 0.0), 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{secs:05.2f}" if hours else f"{minutes}:{secs:05.2f}"


def _nullcontext():
    from contextlib import nullcontext

    return nullcontext()


@app.command()
def ui(port: int = 3000, host: str = "127.0.0.1") -> None:
    """Start the Dagster UI and daemon (dagster dev) on the workspace."""
    settings = get_settings()
    home = ensure_dagster_home(settings)
    workspace = next((w for w in (Path.cwd() / "workspace.yaml", REPO_ROOT / "workspace.yaml")
                      if w.exists()), None)
    target = ["-w", str(workspace)] if workspace else ["-m", "prism_assets.definitions"]
    cmd = [sys.executable, "-m", "dagster", "dev", *target, "-h", host, "-p", str(port)]
    console.print(f"Dagster UI on http://{host}:{port} (instance {home}); Ctrl-C stops it")
    # A shell that started us in the background made SIGINT ignored; dagster dev would
    # inherit that and never stop. Give the child default handlers and its own group.
    proc = subprocess.Popen(cmd, start_new_session=True, preexec_fn=_default_signals)

    def _stop(_signum, _frame):
        # Only the leader is interrupted: dagster dev then stops the webserver and the daemon
        # before its code server. A signal to the whole group made every process shut down at
        # once (the daemon lost its code server mid-tick, and slow exits outlived the caller).
        try:
            os.kill(proc.pid, signal.SIGINT)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    code = proc.wait()
    # Whatever dagster dev left in its group (a child it gave up on) goes with it.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    raise typer.Exit(code)


def _default_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@app.command()
def demo(title: Annotated[str, typer.Option(callback=_title)] = SAMPLE_TITLE_ID) -> None:
    """Generate the sample title, deliver it and process it: the Quickstart in one command."""
    settings = get_settings()
    video = settings.home / "samples" / f"{title}.mp4"
    sample(video, 640, 360, 25.0)
    deliver(video, title, delivery_date=None, title_name="Prism sample title",
            series=None, season=None, episode=None, provider="prism-sample",
            audio_language=["en"], copy=False)
    _run_with_progress(title)
    status(title)
    example = "a fox leaping over a sleeping dog"
    console.print(f"\n[bold]Search[/]: {_prism_cmd()} search \"{example}\" --k 3")
    search(example, like=None, title=None, k=3, scope="all", as_json=False)
    console.print(f"\n[bold]Similar shots[/]: {_prism_cmd()} search --like {title}:0 --k 3")
    search(None, like=f"{title}:0", title=None, k=3, scope="all", as_json=False)
    console.print(
        f"\n[bold]Results[/]: {settings.artifacts_uri}/titles/{title}/\n"
        f"[bold]UI[/]: run [cyan]{_prism_cmd()} ui[/] and open http://127.0.0.1:3000 "
        f"(assets, the `titles` partitions, runs and checks)"
    )


def _prism_cmd() -> str:
    venv = REPO_ROOT / ".venv" / "bin" / "prism"
    return str(venv.relative_to(Path.cwd())) if venv.exists() and venv.is_relative_to(Path.cwd()) else "prism"


if __name__ == "__main__":  # pragma: no cover
    app()

