"""``stateway run``: one flow on the embedded engine, with live progress."""

from __future__ import annotations

import json
import logging
import os
import shlex
import socket
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from stateway.api import DEV_CREDENTIALS, BackgroundServer, create_app
from stateway.cli._stores import _redacted, build_node, load_settings, store_option
from stateway.fdl import FlowDefinitionError
from stateway.jsontext import MAX_DEPTH, InvalidJSONValue, check_value
from stateway.runtime import Runtime

MAX_INPUT_DEPTH = MAX_DEPTH


def read_text(path: str | Path, label: str = "") -> str:
    """A file's text, or a usage error (exit 2) saying why it cannot be read."""
    label = label or str(path)
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise click.UsageError(f"{label}: not UTF-8 text (byte {exc.start}: {exc.object[exc.start:exc.start + 1]!r})"
                               ) from None
    except OSError as exc:
        raise click.UsageError(f"{label}: cannot read: {exc.strerror}") from None


def read_input(value: str | None, option: str = "--input") -> Any:
    """The execution input from JSON text or ``@file.json``: a JSON object, or a usage error (exit 2)."""
    if value is None:
        return {}
    text = read_text(value[1:], f"{option} {value}") if value.startswith("@") else value

    def constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        data = json.loads(text, parse_constant=constant)
    except RecursionError:
        raise click.UsageError(f"{option} is nested deeper than {MAX_INPUT_DEPTH} levels") from None
    except ValueError as exc:
        raise click.UsageError(f"{option} is not JSON: {exc}") from None
    try:
        check_value(data)  # the engine's rule for every value: no lone surrogates, nesting within MAX_DEPTH
    except InvalidJSONValue as exc:
        raise click.UsageError(f"{option}: {exc}") from None
    if not isinstance(data, dict):
        raise click.UsageError(f"{option} must be a JSON object")
    return data


_read_input = read_input


def self_command() -> str:
    """How to run this same ``stateway`` again, whether or not its virtual environment is active."""
    argv0 = sys.argv[0] if sys.argv else ""
    if argv0 and os.path.basename(argv0) not in ("__main__.py", "-c", "-m") and os.path.isfile(argv0):
        return shlex.quote(os.path.abspath(argv0))
    return f"{shlex.quote(sys.executable)} -m stateway.cli"


def _flow_name(path: Path, source: str) -> str:
    from ruamel.yaml import YAML

    try:
        doc = YAML(typ="safe").load(source)
        if isinstance(doc, dict) and doc.get("type") == "flow" and "Name" not in doc:
            doc["Name"] = doc.get("name")  # the older dialect spells it either way (fdl-v1.md §1)
        if isinstance(doc, dict) and isinstance(doc.get("Name"), str) and doc["Name"]:
            return str(doc["Name"])
    except Exception:
        pass
    return path.stem


class Progress:
    """Shows a run as it is committed, at a cost that does not grow with its speed.

    The runtime's listener only counts and queues (it runs on the engine's loop thread); a
    printer thread shows the queue and a live status line at most ten times a second. A step
    gets a line the first time it is entered and left; its repeats are counted and summed up at
    the end. Off a terminal there is no line per step at all: what needs the user (callback
    tokens), failures, function output, and a summary."""

    MAX_NOTES = 20  # lines of each noisy kind (failures, function output) before they are only counted
    # a callback task still open this long gets its "complete it with" hint; one that something answers
    # sooner (a queue worker, the function itself) needs nothing from the user and gets none
    HINT_AFTER_SECONDS = 5.0

    def __init__(self, runtime: Runtime, console: Console, root_id: list[int]) -> None:
        self.runtime = runtime
        self.console = console
        self.root = root_id
        self.tty = console.is_terminal
        self.entered: dict[tuple[int, str], float] = {}
        self.counts: dict[str, int] = {}
        self.shown_exit: set[str] = set()
        self.lock = threading.Lock()
        self.lines: list[str] = []
        self.noted = {"failure": 0, "logs": 0}
        self.hidden = {"failure": 0, "logs": 0}
        self.steps = 0
        self.tasks = 0
        self.current = ""
        self.endpoint = ""
        self.command = self_command()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.hints: dict[tuple[int, str], tuple[str, float]] = {}  # (execution, task) → (step, when to show)

    # -- the listener (engine thread): count and queue, never print -------------------------------------
    def __call__(self, execution_id: int, events: list[dict[str, Any]]) -> None:
        with self.lock:
            root = execution_id in self.root
            who = ""
            for event in events:
                kind, step = event["Type"], event["StepName"]
                if kind == "StepEntered":
                    self.steps += 1
                    self.current = step
                    seen = self.counts.get(step, 0)
                    self.counts[step] = seen + 1
                    self.entered[(execution_id, step)] = event["Time"]
                    if seen == 0 and self.tty:
                        who = who or self._who(execution_id, root)
                        self.lines.append(f"  {who}[cyan]→[/] {step}")
                elif kind == "StepExited":
                    started = self.entered.pop((execution_id, step), event["Time"])
                    detail = event["EventDetail"]
                    if "output" in detail and self.tty and (step not in self.shown_exit or "caught" in detail):
                        self.shown_exit.add(step)
                        who = who or self._who(execution_id, root)
                        note = f" [yellow](caught {detail['caught']})[/]" if "caught" in detail else ""
                        self.lines.append(f"  {who}[green]✓[/] {step} [dim]{(event['Time'] - started) * 1000:.0f} ms"
                                          f"[/]{note}")
                elif kind == "StepFailed":
                    d = event["EventDetail"]
                    retry = f" [dim](retry {d['retry']} in {d['delaySeconds']:g}s)[/]" if "retry" in d else ""
                    who = who or self._who(execution_id, root)
                    cause = str(d.get("cause") or "")
                    self._note("failure", f"  {who}[red]✗[/] {step}: {d.get('error')}: "
                               f"{escape(cause.splitlines()[0] if cause else '')}{retry}")
                elif kind == "TaskScheduled":
                    self.tasks += 1
                    if event["EventDetail"].get("taskMode") == "WaitForCustomCallback":
                        self.show_token(execution_id, step, event)
                elif kind in ("TaskCancelled", "TaskCancelFailed"):
                    who = who or self._who(execution_id, root)
                    self.lines.append(f"  {who}[yellow]⊘[/] {step}: {event['EventDetail'].get('detail')}")
                elif kind.startswith("Execution") and kind != "ExecutionStarted" and not root:
                    who = who or self._who(execution_id, root)
                    self.lines.append(f"  {who}{kind}")
                if kind.startswith("Task") and "logs" in event["EventDetail"]:
                    self.show_logs(step, event["EventDetail"]["logs"])

    def _who(self, execution_id: int, root: bool) -> str:
        if root:
            return ""
        row = self.runtime.store.get_execution(execution_id)
        return f"[magenta]{row.flow_name}/{row.name}[/] "

    def _note(self, kind: str, line: str) -> None:
        if self.noted[kind] < self.MAX_NOTES:
            self.noted[kind] += 1
            self.lines.append(line)
        else:
            self.hidden[kind] += 1

    def show_token(self, execution_id: int, step: str, event: dict[str, Any]) -> None:
        self.hints[(execution_id, str(event["EventId"]))] = (step, time.monotonic() + self.HINT_AFTER_SECONDS)

    def due_hints(self, *, final: bool = False) -> list[str]:
        """The hints of callback tasks still open once their delay has passed (none at the end: the run is over)."""
        lines = []
        now = time.monotonic()
        for key, (step, when) in list(self.hints.items()):
            if not final and when > now:
                continue
            del self.hints[key]
            if final:
                continue
            execution_id, task = key
            tokens = [t["token"] for t in self.runtime.store.open_tasks(execution_id) if t["task_id"] == task]
            if tokens:
                lines.append(f"  [yellow]⏸[/] {step} waits for a callback. Complete it with:\n"
                             f"    {escape(self.command)} task succeed --endpoint {self.endpoint} {tokens[0]} "
                             "--output '{}'")
        return lines

    def show_logs(self, step: str, logs: dict[str, Any]) -> None:
        parts = []
        for stream in ("stdout", "stderr"):
            raw = str(logs.get(stream) or "")
            text = raw.rstrip("\n")
            if text:
                cut = " (end)" if logs.get(f"{stream}Bytes", 0) > len(raw.encode()) else ""
                body = "\n".join(f"      {line}" for line in text.splitlines())
                parts.append(f"    [dim]{step} {stream}{cut}:[/]\n{escape(body)}")
        if parts:
            self._note("logs", "\n".join(parts))

    # -- the printer thread ----------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._print_loop, name="stateway-progress", daemon=True)
        self._thread.start()

    def _print_loop(self) -> None:
        status = self.console.status("", spinner="dots") if self.tty else None
        if status is not None:
            status.start()
        try:
            while not self._stop.wait(0.1):
                self.flush(status)
            self.flush(status)
        finally:
            if status is not None:
                status.stop()

    def flush(self, status: Any = None, *, final: bool = False) -> None:
        with self.lock:
            lines, self.lines = self.lines, []
            lines += self.due_hints(final=final)
            text = f"[dim]{self.steps:,} steps · now {escape(self.current)}[/]" if self.current else ""
        for line in lines:
            self.console.print(line, soft_wrap=True, highlight=False)
        if status is not None:
            status.update(text)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.flush(final=True)

    def summary(self) -> str:
        with self.lock:
            repeated = sorted(((n, s) for s, n in self.counts.items() if n > 1), reverse=True)[:5]
            text = f"{self.steps:,} steps ({len(self.counts)} distinct), {self.tasks:,} tasks"
            if repeated:
                text += "; repeated: " + ", ".join(f"{escape(s)} ×{n:,}" for n, s in repeated)
            for kind, label in (("failure", "failures"), ("logs", "function outputs")):
                if self.hidden[kind]:
                    text += f"; {self.hidden[kind]:,} more {label} not shown"
            return text


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


@click.command("run", context_settings={"show_default": True})
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--input", "input_", help="the execution input: JSON text, or @file.json  [default: {}]")
@click.option("--functions", "functions_dir", type=click.Path(file_okay=False), help="local functions directory")
@click.option("--flows", "flows_dir", type=click.Path(file_okay=False), help="other flows (child flows), *.yaml")
@click.option("--db", type=click.Path(dir_okay=False), help="SQLite database (default: a temporary one)")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="TOML as for serve: [limits], [functions.<name>]")
@click.option("--json", "as_json", is_flag=True, help="end with one JSON line: name, status, output, error")
@click.option("--port", default=0, help="loopback port for callbacks (0: any free port)")
@click.option("--name", "execution_name", help="the execution's name (default: generated)")
@store_option
def run_command(file: str, input_: str | None, functions_dir: str | None, flows_dir: str | None, db: str | None,
                config_path: str | None, as_json: bool, port: int, execution_name: str | None,
                store_url: str | None = None) -> None:
    """Run FILE on the embedded engine until it ends. Exit 0 if it succeeded, 1 if not, 2 for bad input."""
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    path = Path(file)
    source = read_text(path)
    execution_input = read_input(input_)
    if db is not None and store_url:
        raise click.UsageError("give --db or --store, not both")
    settings = load_settings(config_path, store_url=store_url or db, functions_dir=functions_dir)
    children = []
    if flows_dir:
        if not Path(flows_dir).is_dir():
            raise click.UsageError(f"--flows {flows_dir}: not a directory")
        children = [(child, read_text(child)) for child in sorted(Path(flows_dir).glob("*.y*ml"))]
    if port and not _port_free("127.0.0.1", port):
        raise click.UsageError(f"--port {port}: the port is taken (give another, or 0 for any free one)")
    if not settings.store.url:  # no --db, --store, STATEWAY_STORE or [store] url: a database for this run
        tmp = tempfile.mkdtemp(prefix="stateway-run-")
        settings = replace(settings, store=replace(settings.store, url=os.path.join(tmp, "stateway.db")))
    db = _redacted(settings.store.target)
    # the callback endpoint is chosen first, so functions get it with the runtime that runs them
    port = port or _free_port("127.0.0.1")
    key_id, secret = next(iter(DEV_CREDENTIALS.items()))
    settings = settings.with_function_env({"STATEWAY_ENDPOINT": f"127.0.0.1:{port}",
                                           "ALIBABA_CLOUD_ACCESS_KEY_ID": key_id,
                                           "ALIBABA_CLOUD_ACCESS_KEY_SECRET": secret})
    node = build_node(settings, engine_lock=True)  # SQLite: one engine per database, held until exit
    runtime = node.runtime
    app = create_app(runtime, DEV_CREDENTIALS)
    node.on_close(app.state.service.close)
    services = app.state.app  # the same service layer the API calls
    server = BackgroundServer(app, "127.0.0.1", port)
    for where, text in [*children, (path, source)]:
        try:
            services.flows.put(_flow_name(where, text), text)
        except FlowDefinitionError as exc:
            for problem in exc.problems:
                click.echo(problem.format(str(where)), err=True)
            sys.exit(2)
    name = _flow_name(path, source)
    for warning in services.flows.validate(source).warnings:
        console.print(f"[yellow]{escape(warning.format(file))}[/]")
    server.start()
    console.print(f"[dim]stateway: listening on {server.endpoint} for callbacks (database {escape(db)})[/]")
    root: list[int] = []
    progress = Progress(runtime, console, root)
    progress.endpoint = server.endpoint
    runtime.listeners.append(progress)
    resumed = [r for r in services.executions.list(name, status="Running", limit=1000) if r.parent_id is None]
    if resumed and execution_name is None:
        row = resumed[0]
        root.append(row.id)
        console.print(f"[bold]resuming[/] {name}/{row.name}")
    progress.start()
    runtime.start()
    if not root:
        try:
            row = services.executions.start(name, execution_input, execution_name)
        except Exception as exc:
            progress.stop()
            click.echo(f"error: {getattr(exc, 'code', type(exc).__name__)}: {exc}", err=True)
            sys.exit(2)
        root.append(row.id)
        console.print(f"[bold]started[/] {name}/{row.name}")
    began = time.time()
    try:
        row = services.executions.wait(row)
        runtime.settle()  # let the cancels of a stop or a failure reach children and functions
    except KeyboardInterrupt:
        progress.stop()
        console.print("[yellow]interrupted; the execution stays in the database and resumes with the same --db[/]")
        sys.exit(130)
    finally:
        # a worker's long poll must not hold the end of the run; cancelling it is expected, not an error
        logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)
        server.stop(force=True)
        node.close()
    progress.stop()
    color = "green" if row.status == "Succeeded" else "red"
    console.print(f"[bold {color}]{row.status}[/] in {time.time() - began:.2f}s: {progress.summary()}")
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
