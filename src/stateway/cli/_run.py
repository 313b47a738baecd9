"""``stateway run``: one flow on the embedded engine, with live progress."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from stateway.api import DEV_CREDENTIALS, BackgroundServer, create_app
from stateway.cli._stores import _redacted, open_configured_store, store_option
from stateway.fdl import FlowDefinitionError
from stateway.runtime import Runtime
from stateway.store import SQLiteStore


def _read_input(value: str | None) -> Any:
    if value is None:
        return {}
    text = Path(value[1:]).read_text() if value.startswith("@") else value
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise click.UsageError(f"--input is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise click.UsageError("--input must be a JSON object")
    return data


def _flow_name(path: Path, source: str) -> str:
    from ruamel.yaml import YAML

    try:
        doc = YAML(typ="safe").load(source)
        if isinstance(doc, dict) and isinstance(doc.get("Name"), str) and doc["Name"]:
            return str(doc["Name"])
    except Exception:
        pass
    return path.stem


class Progress:
    """Prints history as it is committed: states entered and left, with timings."""

    def __init__(self, runtime: Runtime, console: Console, root_id: list[int]) -> None:
        self.runtime = runtime
        self.console = console
        self.root = root_id
        self.entered: dict[tuple[int, str], float] = {}
        self.lock = threading.Lock()
        self.endpoint = ""

    def __call__(self, execution_id: int, events: list[dict[str, Any]]) -> None:
        with self.lock:
            row = None
            for event in events:
                kind, step = event["Type"], event["StepName"]
                if execution_id not in self.root:
                    row = row or self.runtime.store.get_execution(execution_id)
                    who = f"[magenta]{row.flow_name}/{row.name}[/] "
                else:
                    who = ""
                if kind == "StepEntered":
                    self.entered[(execution_id, step)] = event["Time"]
                    self.console.print(f"  {who}[cyan]→[/] {step}")
                elif kind == "StepExited" and "output" in event["EventDetail"]:
                    started = self.entered.pop((execution_id, step), event["Time"])
                    took = (event["Time"] - started) * 1000
                    note = f" [yellow](caught {event['EventDetail']['caught']})[/]" if "caught" in event[
                        "EventDetail"] else ""
                    self.console.print(f"  {who}[green]✓[/] {step} [dim]{took:.0f} ms[/]{note}")
                elif kind == "StepFailed":
                    d = event["EventDetail"]
                    retry = f" [dim](retry {d['retry']} in {d['delaySeconds']:g}s)[/]" if "retry" in d else ""
                    self.console.print(f"  {who}[red]✗[/] {step}: {d.get('error')}: {d.get('cause')}{retry}")
                elif kind == "TaskScheduled" and event["EventDetail"].get("taskMode") == "WaitForCustomCallback":
                    self.show_token(execution_id, step, event)
                elif kind in ("TaskCancelled", "TaskCancelFailed"):
                    self.console.print(f"  {who}[yellow]⊘[/] {step}: {event['EventDetail'].get('detail')}")
                elif kind.startswith("Execution") and kind != "ExecutionStarted" and execution_id not in self.root:
                    self.console.print(f"  {who}{kind}")

    def show_token(self, execution_id: int, step: str, event: dict[str, Any]) -> None:
        task = str(event["EventId"])
        tokens = [t["token"] for t in self.runtime.store.open_tasks(execution_id) if t["task_id"] == task]
        if not tokens:
            return
        self.console.print(f"  [yellow]⏸[/] {step} waits for a callback. Complete it with:\n"
                           f"    stateway task succeed --endpoint {self.endpoint} {tokens[0]} --output '{{}}'",
                           soft_wrap=True)


@click.command("run")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--input", "input_", help="the execution input: JSON text, or @file.json")
@click.option("--functions", "functions_dir", type=click.Path(file_okay=False), help="local functions directory")
@click.option("--flows", "flows_dir", type=click.Path(file_okay=False), help="other flows (child flows), *.yaml")
@click.option("--db", type=click.Path(dir_okay=False), help="SQLite database (default: a temporary one)")
@click.option("--json", "as_json", is_flag=True, help="end with one JSON line: name, status, output, error")
@click.option("--port", default=0, help="loopback port for callbacks (default: any free port)")
@click.option("--name", "execution_name", help="the execution's name (default: generated)")
@store_option
def run_command(file: str, input_: str | None, functions_dir: str | None, flows_dir: str | None, db: str | None,
                as_json: bool, port: int, execution_name: str | None, store_url: str | None = None) -> None:
    """Run FILE on the embedded engine until it ends. Exit 0 if it succeeded, 1 if not, 2 for bad input."""
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    path = Path(file)
    source = path.read_text()
    execution_input = _read_input(input_)
    tmp = None
    if db is not None and store_url:
        raise click.UsageError("give --db or --store, not both")
    if db is None and store_url:
        db = store_url
    if db is None:
        tmp = tempfile.mkdtemp(prefix="stateway-run-")
        db = os.path.join(tmp, "stateway.db")
    store = open_configured_store(store_url, {}) if store_url else SQLiteStore(db)
    key_id, secret = next(iter(DEV_CREDENTIALS.items()))
    settings: dict[str, Any] = {"functions_dir": functions_dir}
    runtime = Runtime(store, settings=settings)
    app = create_app(runtime, DEV_CREDENTIALS)
    server = BackgroundServer(app, "127.0.0.1", port)
    settings["function_env"] = {"STATEWAY_ENDPOINT": server.endpoint, "ALIBABA_CLOUD_ACCESS_KEY_ID": key_id,
                                "ALIBABA_CLOUD_ACCESS_KEY_SECRET": secret}
    os.environ.update(settings["function_env"])
    try:
        if flows_dir:
            for child in sorted(Path(flows_dir).glob("*.y*ml")):
                child_source = child.read_text()
                runtime.register_flow(_flow_name(child, child_source), child_source)
        name = _flow_name(path, source)
        runtime.register_flow(name, source)
    except FlowDefinitionError as exc:
        for problem in exc.problems:
            click.echo(problem.format(file), err=True)
        sys.exit(2)
    for warning in runtime.load(source).warnings:
        console.print(f"[yellow]{warning.format(file)}[/]")
    server.start()
    console.print(f"[dim]stateway: listening on {server.endpoint} for callbacks (database {_redacted(db)})[/]")
    root: list[int] = []
    progress = Progress(runtime, console, root)
    progress.endpoint = server.endpoint
    runtime.listeners.append(progress)
    resumed = [r for r in store.list_executions(flow_name=name, status="Running") if r.parent_id is None]
    if resumed and execution_name is None:
        row = resumed[0]
        root.append(row.id)
        console.print(f"[bold]resuming[/] {name}/{row.name}")
    runtime.start()
    if not root:
        try:
            row = runtime.start_execution(name, execution_input, execution_name)
        except Exception as exc:
            click.echo(f"error: {getattr(exc, 'code', type(exc).__name__)}: {exc}", err=True)
            sys.exit(2)
        root.append(row.id)
        console.print(f"[bold]started[/] {name}/{row.name}")
    began = time.time()
    try:
        row = runtime.wait(row.id)
        runtime.settle()  # let the cancels of a stop or a failure reach children and functions
    except KeyboardInterrupt:
        console.print("[yellow]interrupted; the execution stays in the database and resumes with the same --db[/]")
        sys.exit(130)
    finally:
        runtime.close()
        server.stop()
    color = "green" if row.status == "Succeeded" else "red"
    console.print(f"[bold {color}]{row.status}[/] in {time.time() - began:.2f}s")
    error = {"code": row.error, "detail": row.cause} if row.status != "Succeeded" else None
    if as_json:
        click.echo(json.dumps({"name": row.name, "status": row.status, "output": row.output, "error": error},
                              ensure_ascii=False))
    else:
        if row.output is not None:
            click.echo(json.dumps(row.output, indent=2, ensure_ascii=False))
        if error:
            click.echo(f"{row.error}: {row.cause}")
    sys.exit(0 if row.status == "Succeeded" else 1)
