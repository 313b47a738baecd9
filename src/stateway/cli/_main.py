from __future__ import annotations

import importlib.metadata
import json
import math
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from stateway.cli import _limits, _operations, _tasks, _versions
from stateway.cli._convert import convert_command
from stateway.cli._history_text import detail_lines
from stateway.cli._output import _dump, _duration, _pairs, _table
from stateway.cli._remote import _call, _listing, endpoint_option, json_option
from stateway.cli._run import read_input, read_text, run_command
from stateway.cli._serve import serve_command
from stateway.cli._stores import store_option
from stateway.cli._test import test_command
from stateway.cli._wait_option import BARE as WAIT_BARE
from stateway.cli._wait_option import OptionalWaitCommand, wait_option
from stateway.cli._worker import worker_command
from stateway.fdl import validate_flow
from stateway.runtime import IntegrationRegistry

ENDED = ("Succeeded", "Failed", "Stopped", "TimedOut")
CONTEXT = {"help_option_names": ["-h", "--help"], "show_default": True, "max_content_width": 110}


def _version() -> str:
    try:
        return importlib.metadata.version("stateway")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


@click.group(context_settings=CONTEXT)
@click.version_option(_version(), "--version", "-V", prog_name="stateway", message="%(prog)s %(version)s")
def cli() -> None:
    """Stateway: a durable workflow engine for CloudFlow flows.

    Shell completion: eval "$(_STATEWAY_COMPLETE=bash_source stateway)" (zsh_source, fish_source).
    """


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def validate(files: tuple[str, ...]) -> None:
    """Check flow definitions; one line per problem, exit 1 if any error."""
    registry = IntegrationRegistry.default()
    actions = registry.modes()
    failed = False
    for name in files:
        try:
            source = read_text(name)
        except click.UsageError as exc:
            click.echo(f"{name}:0:0: error: {exc.message.removeprefix(name + ': ')}")
            failed = True
            continue
        for problem in validate_flow(source, actions, **registry.validation()):
            click.echo(problem.format(name))
            failed = failed or problem.severity == "error"
    sys.exit(1 if failed else 0)


cli.add_command(run_command)
cli.add_command(serve_command)
cli.add_command(worker_command)
cli.add_command(test_command)
cli.add_command(convert_command)


def _show_execution(result: dict[str, Any], as_json: bool, definition: bool) -> None:
    """Compact by default: status, times, where it is, output or error; the definition on request."""
    if not definition:
        result.pop("FlowDefinition", None)
    if as_json:
        _dump(result)
        return
    current = result.get("CurrentSteps")
    _pairs([("execution", f"{result['FlowName']}/{result['Name']}"), ("status", result["Status"]),
            ("started", result.get("StartedTime")), ("stopped", result.get("StoppedTime")),
            ("current", ", ".join(current) if current else ""), ("version", result.get("FlowVersion")),
            ("qualifier", result.get("Qualifier")), ("map run", result.get("MapRunName")), ("input", result.get("Input")),
            ("output", result.get("Output")), ("error", result.get("ErrorCode")),
            ("cause", result.get("ErrorMessage")), ("redriven", result.get("RedriveCount") or ""),
            ("redrive", result.get("RedriveStatusReason") or "")])
    if definition and result.get("FlowDefinition"):
        click.echo("definition:")
        click.echo(result["FlowDefinition"].rstrip())


# -- tasks ----------------------------------------------------------------------------------------------
@cli.group(context_settings=CONTEXT)
def task() -> None:
    """Find tasks waiting for a callback and report their result."""


@task.command("list")
@click.argument("flow_name", required=False)
@click.option("--execution", "execution_name", help="only the tasks of this execution")
@json_option
@endpoint_option
def task_list(flow_name: str | None, execution_name: str | None, as_json: bool, endpoint: str) -> None:
    """Tasks waiting for their result (of FLOW_NAME, or of every flow), oldest first, with their tokens."""
    tasks = list(_listing(endpoint, "ListOpenTasks", "Tasks", FlowName=flow_name, ExecutionName=execution_name))
    if as_json:
        _dump(tasks)
        return
    _table(["FLOW", "EXECUTION", "STEP", "MODE", "WAITED", "TIMEOUT", "KEY", "TOKEN"],
           [(t["FlowName"], t["ExecutionName"], t["StepName"], t["TaskMode"], _duration(t["WaitedSeconds"]),
             f"{t['TimeoutSeconds']:g}s" if t["TimeoutSeconds"] else "-", t.get("CorrelationKey") or "-",
             t["TaskToken"] or "-") for t in tasks],
           empty="no task is waiting")


@task.command("succeed")
@click.argument("token", required=False)
@click.option("--output", default="{}", help="the task's output: a JSON object, or @file.json")
@_tasks.key_options
@endpoint_option
def task_succeed(token: str | None, output: str, flow_name: str | None, key: str | None, endpoint: str) -> None:
    """Complete the task holding TOKEN (or --flow F --key K) with an output."""
    text = json.dumps(read_input(output, "--output"), ensure_ascii=False)
    result = _call(endpoint, "ReportTaskSucceeded", Output=text, **_tasks.target(token, flow_name, key))
    click.echo(f"reported success (event {result.get('EventId')})")


@task.command("fail")
@click.argument("token", required=False)
@click.option("--error", "error", required=True, help="the error name, matched by Retry/Catch")
@click.option("--cause", default="", help="the error's detail")
@_tasks.key_options
@endpoint_option
def task_fail(token: str | None, error: str, cause: str, flow_name: str | None, key: str | None,
              endpoint: str) -> None:
    """Fail the task holding TOKEN (or --flow F --key K) with an error name and cause."""
    result = _call(endpoint, "ReportTaskFailed", Error=error, Cause=cause, **_tasks.target(token, flow_name, key))
    click.echo(f"reported failure (event {result.get('EventId')})")


# -- flows ----------------------------------------------------------------------------------------------
@cli.group(context_settings=CONTEXT)
def flow() -> None:
    """Flows on a running Stateway."""


@flow.command("create")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--name", help="the flow's name (default: the definition's Name, else the file name)")
@click.option("--description", default="")
@click.option("--express", is_flag=True, help="ExecutionMode Express: run with StartSyncExecution")
@endpoint_option
def flow_create(file: str, name: str | None, description: str, express: bool, endpoint: str) -> None:
    """Create a flow from a definition FILE."""
    from stateway.cli._run import _flow_name

    source = read_text(file)
    result = _call(endpoint, "CreateFlow", Name=name or _flow_name(Path(file), source), Definition=source,
                   Description=description, Type="FDL", ExecutionMode="Express" if express else "Standard")
    click.echo(f"created flow {result['Name']}")


@flow.command("update")
@click.argument("name")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--description", help="a new description (default: unchanged)")
@endpoint_option
def flow_update(name: str, file: str, description: str | None, endpoint: str) -> None:
    """Replace flow NAME's definition with FILE."""
    _call(endpoint, "UpdateFlow", Name=name, Definition=read_text(file), Description=description)
    click.echo(f"updated flow {name}")


@flow.command("describe")
@click.argument("name")
@click.option("--definition", is_flag=True, help="print the definition too")
@json_option
@endpoint_option
def flow_describe(name: str, definition: bool, as_json: bool, endpoint: str) -> None:
    """Show flow NAME."""
    result = _call(endpoint, "DescribeFlow", Name=name)
    if not definition:
        result.pop("Definition", None)
    if as_json:
        _dump(result)
        return
    _pairs([("flow", result["Name"]), ("mode", result.get("ExecutionMode")), ("type", result.get("Type")),
            ("description", result.get("Description")), ("created", result.get("CreatedTime")),
            ("modified", result.get("LastModifiedTime"))])
    if result.get("MaxRunning") or result.get("StartsPerSecond"):  # a concurrency limit (cli/_limits.py)
        _pairs([("max running", result.get("MaxRunning") or "-"), ("key", result.get("ConcurrencyKey") or "-"),
                ("starts/s", result.get("StartsPerSecond") or "-")])
    if definition:
        click.echo("definition:")
        click.echo(str(result.get("Definition", "")).rstrip())


@flow.command("list")
@json_option
@endpoint_option
def flow_list(as_json: bool, endpoint: str) -> None:
    """List the flows."""
    flows = list(_listing(endpoint, "ListFlows", "Flows"))
    if as_json:
        _dump([{k: v for k, v in f.items() if k != "Definition"} for f in flows])
        return
    _table(["NAME", "MODE", "MODIFIED", "DESCRIPTION"],
           [(f["Name"], f.get("ExecutionMode", ""), f["LastModifiedTime"], f.get("Description", "")) for f in flows],
           empty="no flow")


@flow.command("delete")
@click.argument("name")
@endpoint_option
def flow_delete(name: str, endpoint: str) -> None:
    """Delete flow NAME."""
    _call(endpoint, "DeleteFlow", Name=name)
    click.echo(f"deleted flow {name}")


# -- executions -----------------------------------------------------------------------------------------
@cli.group("exec", context_settings=CONTEXT)
def exec_group() -> None:
    """Executions on a running Stateway."""


@exec_group.command("start", cls=OptionalWaitCommand)
@click.argument("flow_name")
@click.option("--input", "input_", default="{}", help="JSON object, or @file.json")
@click.option("--name", "execution_name", help="the execution's name (default: generated)")
@wait_option("wait for the end and print the result; with SECONDS, wait at most that long")
@click.option("--definition", is_flag=True, help="with --wait: print the flow definition too")
@click.option("--qualifier", help="run a published version (a number) or an alias's pick")
@json_option
@endpoint_option
def exec_start(flow_name: str, input_: str, execution_name: str | None, wait: float | None, definition: bool,
               qualifier: str | None, as_json: bool, endpoint: str) -> None:
    """Start an execution of FLOW_NAME; with --wait, exit 0 only if it succeeded (within SECONDS, if given)."""
    text = json.dumps(read_input(input_), ensure_ascii=False)
    result = _call(endpoint, "StartExecution", FlowName=flow_name, ExecutionName=execution_name, Input=text,
                   Qualifier=qualifier)
    click.echo(f"started {flow_name}/{result['Name']}", err=True)
    if wait is not None:
        result = _wait_for_end(endpoint, flow_name, result, None if wait == WAIT_BARE else wait)
    if wait is not None or as_json:
        _show_execution(result, as_json, definition)
    if wait is not None:
        if result["Status"] not in ENDED:
            click.echo(f"{flow_name}/{result['Name']} is still {result['Status']} after {wait:g}s", err=True)
        sys.exit(0 if result["Status"] == "Succeeded" else 1)


def _wait_for_end(endpoint: str | None, flow: str, result: dict[str, Any], seconds: float | None) -> dict[str, Any]:
    """Long-polls DescribeExecution (up to 20 s a request) until the end, or until ``seconds`` have passed."""
    deadline = None if seconds is None else time.monotonic() + seconds
    while result["Status"] not in ENDED:
        left = 20.0 if deadline is None else min(20.0, deadline - time.monotonic())
        if left <= 0:
            break
        result = _call(endpoint, "DescribeExecution", FlowName=flow, ExecutionName=result["Name"],
                       WaitTimeSeconds=max(1, math.ceil(left)))
    return result


@exec_group.command("describe", cls=OptionalWaitCommand)
@click.argument("flow")
@click.argument("name")
@wait_option("wait up to SECONDS for the end (bare --wait: 60) before showing it")
@click.option("--definition", is_flag=True, help="print the flow definition too")
@json_option
@endpoint_option
def exec_describe(flow: str, name: str, wait: float | None, definition: bool, as_json: bool, endpoint: str) -> None:
    """Show FLOW's execution NAME: status, current steps, output or error."""
    result = _call(endpoint, "DescribeExecution", FlowName=flow, ExecutionName=name)
    if wait:
        result = _wait_for_end(endpoint, flow, result, 60.0 if wait == WAIT_BARE else wait)
    _show_execution(result, as_json, definition)
    if not as_json:
        from stateway.cli._poison import poison_lines

        for line in poison_lines(_history_pages(endpoint, flow, name)):
            click.echo(line)


@exec_group.command("list")
@click.argument("flow_name")
@click.option("--status", type=click.Choice(["Running", "Succeeded", "Failed", "Stopped", "TimedOut"]),
              help="only executions with this status")
@click.option("--prefix", help="only executions whose name starts with this")
@click.option("--qualifier", help="only executions of this version (a number) or started through this alias")
@click.option("--map-run", "map_run", help="the child executions of this Map Run instead")
@json_option
@endpoint_option
def exec_list(flow_name: str, status: str | None, prefix: str | None, qualifier: str | None, map_run: str | None,
              as_json: bool, endpoint: str) -> None:
    """List FLOW_NAME's executions."""
    items = list(_listing(endpoint, "ListExecutions", "Executions", FlowName=flow_name, Status=status,
                          ExecutionNamePrefix=prefix, Qualifier=qualifier, MapRunName=map_run, MetadataOnly="true"))
    if as_json:
        _dump(items)
        return
    _table(["NAME", "STATUS", "VERSION", "STARTED", "STOPPED"],
           [(i["Name"], i["Status"], i.get("FlowVersion") or "-", i["StartedTime"], i.get("StoppedTime") or "-")
            for i in items], empty="no execution")


@exec_group.command("history")
@click.argument("flow_name")
@click.argument("name")
@click.option("--follow", is_flag=True, help="keep printing events until the execution ends")
@click.option("--json", "as_json", is_flag=True,
              help="one JSON document {Events: [...]} (what stateway.testing replays); with --follow, JSON lines")
@click.option("--pretty/--plain", default=None,
              help="each detail key on its own line, text and JSON unescaped (default: on a terminal)")
@endpoint_option
def exec_history(flow_name: str, name: str, follow: bool, as_json: bool, pretty: bool | None, endpoint: str) -> None:
    """Print the history events of FLOW_NAME's execution NAME."""
    if pretty is None:
        pretty = sys.stdout.isatty()
    token = None
    if as_json and not follow:  # GetExecutionHistory's shape, every page: what stateway.testing replays
        events = [e for page in _history_pages(endpoint, flow_name, name) for e in page["Events"]]
        click.echo(json.dumps({"Events": events}, ensure_ascii=False))
        return
    if not as_json:
        click.echo(f"{'EVENT':>5}  {'TIME':<24}  {'TYPE':<20}  {'STEP':<20}  DETAIL")
    while True:
        page = _call(endpoint, "GetExecutionHistory", FlowName=flow_name, ExecutionName=name, Limit=500,
                     NextToken=token)
        for event in page["Events"]:
            if as_json:
                click.echo(json.dumps({**event, "EventDetail": json.loads(event["EventDetail"] or "{}")},
                                      ensure_ascii=False))
            elif pretty:
                click.echo(f"{event['EventId']:>5}  {event['Time']:<24}  {event['Type']:<20}  {event['StepName']}")
                for line in detail_lines(event["EventDetail"] or ""):
                    click.echo(f"{'':7}{line}")
            else:
                click.echo(f"{event['EventId']:>5}  {event['Time']:<24}  {event['Type']:<20}  "
                           f"{event['StepName']:<20}  {event['EventDetail']}")
            token = str(event["EventId"])
        if page.get("NextToken"):
            continue
        if not follow:
            return
        status = _call(endpoint, "DescribeExecution", FlowName=flow_name, ExecutionName=name)["Status"]
        if status in ENDED and not page["Events"]:
            return
        time.sleep(0.5)


@exec_group.command("logs")
@click.argument("flow_name")
@click.argument("name")
@click.option("--step", help="only this step (its name, or its full path inside Parallel/Map)")
@json_option
@endpoint_option
def exec_logs(flow_name: str, name: str, step: str | None, as_json: bool, endpoint: str) -> None:
    """Print what the functions of an execution wrote to stdout and stderr (the last 64 KiB of each)."""
    logs = _call(endpoint, "GetExecutionLogs", FlowName=flow_name, ExecutionName=name, StepName=step)["Logs"]
    if as_json:
        _dump(logs)
        return
    if not logs:
        click.echo("no function of this execution printed anything" + (f" in step {step}" if step else ""), err=True)
    for entry in logs:
        for stream in ("Stdout", "Stderr"):
            if entry[stream]:
                click.echo(f"== {entry['StepName']} (task {entry['TaskId']}, {entry['Time']}) {stream.lower()} ==")
                click.echo(entry[stream].rstrip("\n"))


def _history_pages(endpoint: str | None, flow_name: str, name: str) -> Iterator[dict[str, Any]]:
    token = None
    while True:
        page = _call(endpoint, "GetExecutionHistory", FlowName=flow_name, ExecutionName=name, Limit=500,
                     NextToken=token)
        yield page
        token = page.get("NextToken")
        if not token:
            return


@exec_group.command("stop")
@click.argument("flow")
@click.argument("name")
@click.option("--error", default="", help="the error recorded on ExecutionStopped")
@click.option("--cause", default="", help="its detail")
@endpoint_option
def exec_stop(flow: str, name: str, error: str, cause: str, endpoint: str) -> None:
    """Stop FLOW's execution NAME; what it started is cancelled too."""
    result = _call(endpoint, "StopExecution", FlowName=flow, ExecutionName=name, Error=error, Cause=cause)
    click.echo(f"{flow}/{name}: {result.get('Status')}")


def _remember_config(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    ctx.meta["stateway.config"] = value


def db_option(command: Any) -> Any:
    command = click.option("--config", "config_path", type=click.Path(dir_okay=False), expose_value=False,
                           callback=_remember_config,
                           help="TOML: [store] url (when no --db or --store) and its [store] tuning")(command)
    command = click.option("--db", type=click.Path(dir_okay=False),
                           help="the SQLite database of the Stateway that owns the queue")(command)
    return store_option(command)


def _store(db: str | None, store_url: str | None = None) -> Any:
    """``--db``, else ``--store`` / ``STATEWAY_STORE``, else ``[store] url`` of ``--config``."""
    from stateway.cli._stores import load_settings, open_store_of
    from stateway.store import SQLiteStore

    if db and store_url:
        raise click.UsageError("give --db or --store, not both")
    if db:
        return SQLiteStore(db)
    settings = load_settings(click.get_current_context().meta.get("stateway.config"), store_url=store_url)
    if not settings.store.url:
        raise click.UsageError("which queue store? give --db FILE or --store URL (or set STATEWAY_STORE), "
                               "or --config with [store] url")
    return open_store_of(settings)


def _queues(db: str | None, store_url: str | None) -> Any:
    """The queue service over the store the options name: no runtime, no engine lock."""
    from stateway.app import Queues

    store = _store(db, store_url)
    click.get_current_context().call_on_close(store.close)  # a PostgreSQL pool is closed, not left to the GC
    return Queues(store)


def _queue_call(call: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a queue service call; its error (a code and a message) ends the command with status 1."""
    from stateway.app.errors import AppError
    from stateway.runtime import InvalidArgument

    try:
        return call(*args, **kwargs)
    except (AppError, InvalidArgument) as exc:
        click.echo(f"error: {exc.code}: {exc}", err=True)
        sys.exit(1)


@cli.group(context_settings=CONTEXT)
def queue() -> None:
    """The built-in durable queue (stands in for MNS)."""


@queue.command("send")
@click.argument("name")
@click.argument("body")
@click.option("--priority", default=8, type=click.IntRange(1, 16), help="1 (first) to 16")
@click.option("--delay", default=0, type=click.IntRange(0, 604800), help="seconds before it can be received")
@db_option
def queue_send(name: str, body: str, priority: int, delay: int, db: str | None, store_url: str | None) -> None:
    """Send BODY to queue NAME (made if missing); prints the message id."""
    queues = _queues(db, store_url)
    sent = _queue_call(queues.send, name, body, priority=priority, delay=delay, create=True)
    click.echo(sent.id)


@queue.command("receive")
@click.argument("name")
@click.option("--wait", "wait", default=0, type=click.IntRange(0, 30), help="long-poll seconds")
@click.option("--visibility", default=30, type=click.IntRange(1, 43200), help="seconds hidden after receipt")
@click.option("--count", default=1, type=click.IntRange(1, 16))
@db_option
def queue_receive(name: str, wait: int, visibility: int, count: int, db: str | None, store_url: str | None) -> None:
    """Print received messages as JSON lines (with receipt handles for delete)."""
    queues = _queues(db, store_url)
    messages = _queue_call(queues.receive, name, count, visibility=visibility, wait_seconds=wait)
    if not messages:
        click.echo("no message", err=True)
        sys.exit(1)
    for message in messages:
        click.echo(json.dumps({"MessageId": message.id, "ReceiptHandle": message.receipt_handle,
                               "MessageBody": message.body, "DequeueCount": message.dequeue_count},
                              ensure_ascii=False))


@queue.command("delete")
@click.argument("name")
@click.argument("receipt_handle")
@db_option
def queue_delete(name: str, receipt_handle: str, db: str | None, store_url: str | None) -> None:
    """Delete a received message by its receipt handle."""
    _queue_call(_queues(db, store_url).delete_message, name, receipt_handle)


@queue.command("visibility")
@click.argument("name")
@click.argument("receipt_handle")
@click.argument("seconds", type=click.IntRange(0, 43200))
@db_option
def queue_visibility(name: str, receipt_handle: str, seconds: int, db: str | None, store_url: str | None) -> None:
    """Hide a received message for SECONDS more (0: visible now); prints the new receipt handle."""
    handle, _ = _queue_call(_queues(db, store_url).change_visibility, name, receipt_handle, seconds)
    click.echo(handle)


@queue.command("list")
@json_option
@db_option
def queue_list(as_json: bool, db: str | None, store_url: str | None) -> None:
    """List the queues and how many messages each holds."""
    queues = _queues(db, store_url).list()
    if as_json:
        _dump([{"Name": q["name"], "Messages": q["messages"]} for q in queues])
        return
    _table(["QUEUE", "MESSAGES"], [(q["name"], f"{q['messages']} messages") for q in queues], empty="no queue")


# the commands of their own modules, added here (they import nothing of this one); added last, so
# that exec stop and flow update of _operations take the place of the plainer ones above
flow.add_command(_versions.flow_publish)
flow.add_command(_versions.flow_versions)
flow.add_command(_versions.flow_unpublish)
flow.add_command(_versions.alias)
cli.add_command(_versions.maprun)
task.add_command(_tasks.task_heartbeat)
cli.add_command(_tasks.task_worker_command)
exec_group.add_command(_operations.exec_redrive)
exec_group.add_command(_operations.exec_stop)  # --all: a bulk operation
exec_group.add_command(_operations.exec_delete)
flow.add_command(_operations.flow_update)  # --retention-days
cli.add_command(_operations.bulk)
flow.add_command(_limits.flow_limit)


def main() -> None:
    cli(prog_name="stateway")  # also under `python -m stateway.cli`: usage lines and completion
