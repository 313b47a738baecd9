"""Task commands beyond reporting by token: ``task heartbeat``, reports by correlation key
(``--flow F --key K``), and ``task-worker``, which runs a ``stateway.worker.Worker`` from a file."""

from __future__ import annotations

import importlib.util
import logging
import sys
from pathlib import Path
from typing import Any

import click

from stateway.client import ApiCallError, RpcClient

DEFAULT_ENDPOINT = "127.0.0.1:8765"


def key_options(command: Any) -> Any:
    command = click.option("--key", "key", help="report to the open task with this correlation key (with --flow)")(command)
    return click.option("--flow", "flow_name", help="the flow whose task has --key")(command)


def target(token: str | None, flow_name: str | None, key: str | None) -> dict[str, str]:
    """The parameters naming the task: TaskToken, or FlowName + CorrelationKey."""
    if token and (flow_name or key):
        raise click.UsageError("give TOKEN, or --flow and --key, not both")
    if token:
        return {"TaskToken": token}
    if not (flow_name and key):
        raise click.UsageError("give the task's TOKEN, or --flow FLOW --key KEY")
    return {"FlowName": flow_name, "CorrelationKey": key}


@click.command("heartbeat")
@click.argument("token", required=False)
@key_options
@click.option("--endpoint", envvar="STATEWAY_ENDPOINT", default=DEFAULT_ENDPOINT, show_envvar=True,
              help="host:port of a running Stateway")
def task_heartbeat(token: str | None, flow_name: str | None, key: str | None, endpoint: str) -> None:
    """Tell the task holding TOKEN (or --flow F --key K) that its worker is alive (HeartbeatSeconds)."""
    try:
        result = RpcClient(endpoint).call("ReportTaskHeartbeat", **target(token, flow_name, key))
    except ApiCallError as exc:
        click.echo(f"error: {exc.code}: {exc.message}", err=True)
        sys.exit(1)
    window = result.get("HeartbeatSeconds") or 0
    click.echo(f"heartbeat sent (window {window:g}s)" if window else "heartbeat sent (the task has no HeartbeatSeconds)")


def load_worker(spec: str) -> Any:
    """``app.py`` or ``app.py:name``: the Worker object the file defines (``worker`` by default, or the
    only Worker in it)."""
    from stateway.worker import Worker

    path_text, _, name = spec.partition(":")
    path = Path(path_text)
    if not path.is_file():
        raise click.BadParameter(f"{path_text}: no such file", param_hint="APP")
    module_name = f"stateway_task_worker_{path.stem}"
    loader_spec = importlib.util.spec_from_file_location(module_name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise click.BadParameter(f"{path_text}: not a Python file", param_hint="APP")
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[module_name] = module
    sys.path.insert(0, str(path.resolve().parent))
    loader_spec.loader.exec_module(module)
    if name:
        found = getattr(module, name, None)
        if not isinstance(found, Worker):
            raise click.BadParameter(f"{path_text} has no Worker named {name!r}", param_hint="APP")
        return found
    workers = {k: v for k, v in vars(module).items() if isinstance(v, Worker)}
    if "worker" in workers:
        return workers["worker"]
    if len(workers) == 1:
        return next(iter(workers.values()))
    raise click.BadParameter(f"{path_text}: {'no Worker' if not workers else 'several Workers: ' + ', '.join(workers)}"
                             "; name one as APP:NAME", param_hint="APP")


@click.command("task-worker")
@click.argument("app")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--log-level", type=click.Choice(["debug", "info", "warning"]), default="info", show_default=True)
def task_worker_command(app: str, log_format: str, log_level: str) -> None:
    """Run the stateway.worker Worker that APP (a file, FILE.py[:NAME]) defines, until SIGTERM or SIGINT.

    The endpoint and keys come from STATEWAY_ENDPOINT and ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET unless
    the file gives them to Worker(...)."""
    from stateway.cli import _logging

    _logging.configure(log_format, getattr(logging, log_level.upper()))
    from stateway.worker import SourceError

    worker = load_worker(app)
    try:
        worker.run()
    except (SourceError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
