from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from stateway.cli._run import run_command
from stateway.cli._serve import serve_command
from stateway.cli._stores import store_option
from stateway.cli._worker import worker_command
from stateway.client import ApiCallError, RpcClient
from stateway.fdl import validate_flow
from stateway.runtime import IntegrationRegistry


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Stateway: a durable workflow engine for CloudFlow flows."""


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def validate(files: tuple[str, ...]) -> None:
    """Check flow definitions; one line per problem, exit 1 if any error."""
    actions = IntegrationRegistry.default().modes()
    failed = False
    for name in files:
        try:
            source = Path(name).read_text()
        except OSError as exc:
            click.echo(f"{name}:0:0: error: cannot read: {exc.strerror}")
            failed = True
            continue
        for problem in validate_flow(source, actions):
            click.echo(problem.format(name))
            failed = failed or problem.severity == "error"
    sys.exit(1 if failed else 0)


cli.add_command(run_command)
cli.add_command(serve_command)
cli.add_command(worker_command)


def _client(endpoint: str | None) -> RpcClient:
    return RpcClient(endpoint)


def _call(endpoint: str | None, action: str, **params: Any) -> dict[str, Any]:
    try:
        return _client(endpoint).call(action, **params)
    except ApiCallError as exc:
        click.echo(f"error: {exc.code}: {exc.message}", err=True)
        sys.exit(1)


endpoint_option = click.option("--endpoint", envvar="STATEWAY_ENDPOINT", help="host:port of a running Stateway")


@cli.group()
def task() -> None:
    """Report the result of a task waiting on a callback (WaitForCustomCallback)."""


@task.command("succeed")
@click.argument("token")
@click.option("--output", default="{}", help="the task's output, a JSON object")
@endpoint_option
def task_succeed(token: str, output: str, endpoint: str | None) -> None:
    result = _call(endpoint, "ReportTaskSucceeded", TaskToken=token, Output=output)
    click.echo(f"reported success (event {result.get('EventId')})")


@task.command("fail")
@click.argument("token")
@click.option("--error", "error", required=True, help="the error name, matched by Retry/Catch")
@click.option("--cause", default="", help="the error's detail")
@endpoint_option
def task_fail(token: str, error: str, cause: str, endpoint: str | None) -> None:
    result = _call(endpoint, "ReportTaskFailed", TaskToken=token, Error=error, Cause=cause)
    click.echo(f"reported failure (event {result.get('EventId')})")


@cli.group("exec")
def exec_group() -> None:
    """Executions on a running Stateway."""


def _listing(endpoint: str | None, action: str, key: str, **params: Any) -> Iterator[dict[str, Any]]:
    """Every item of a paged List* action."""
    token = None
    while True:
        page = _call(endpoint, action, Limit=100, NextToken=token, **params)
        yield from page[key]
        token = page.get("NextToken")
        if not token:
            return


def _print(result: dict[str, Any]) -> None:
    result.pop("RequestId", None)
    click.echo(json.dumps(result, indent=2, ensure_ascii=False))


@cli.group()
def flow() -> None:
    """Flows on a running Stateway."""


@flow.command("create")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--name", help="the flow's name (default: the definition's Name, else the file name)")
@click.option("--description", default="")
@click.option("--express", is_flag=True, help="ExecutionMode Express: run with StartSyncExecution")
@endpoint_option
def flow_create(file: str, name: str | None, description: str, express: bool, endpoint: str | None) -> None:
    from stateway.cli._run import _flow_name

    source = Path(file).read_text()
    result = _call(endpoint, "CreateFlow", Name=name or _flow_name(Path(file), source), Definition=source,
                   Description=description, Type="FDL", ExecutionMode="Express" if express else "Standard")
    click.echo(f"created flow {result['Name']}")


@flow.command("update")
@click.argument("name")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--description")
@endpoint_option
def flow_update(name: str, file: str, description: str | None, endpoint: str | None) -> None:
    _call(endpoint, "UpdateFlow", Name=name, Definition=Path(file).read_text(), Description=description)
    click.echo(f"updated flow {name}")


@flow.command("describe")
@click.argument("name")
@endpoint_option
def flow_describe(name: str, endpoint: str | None) -> None:
    _print(_call(endpoint, "DescribeFlow", Name=name))


@flow.command("list")
@endpoint_option
def flow_list(endpoint: str | None) -> None:
    for item in _listing(endpoint, "ListFlows", "Flows"):
        click.echo(f"{item['Name']}\t{item.get('ExecutionMode', '')}\t{item['LastModifiedTime']}")


@flow.command("delete")
@click.argument("name")
@endpoint_option
def flow_delete(name: str, endpoint: str | None) -> None:
    _call(endpoint, "DeleteFlow", Name=name)
    click.echo(f"deleted flow {name}")


@exec_group.command("start")
@click.argument("flow_name")
@click.option("--input", "input_", default="{}", help="JSON object, or @file.json")
@click.option("--name", "execution_name")
@click.option("--wait", "wait", is_flag=True, help="wait for the end and print the output")
@endpoint_option
def exec_start(flow_name: str, input_: str, execution_name: str | None, wait: bool, endpoint: str | None) -> None:
    text = Path(input_[1:]).read_text() if input_.startswith("@") else input_
    result = _call(endpoint, "StartExecution", FlowName=flow_name, ExecutionName=execution_name, Input=text)
    click.echo(f"started {flow_name}/{result['Name']}", err=True)
    while wait and result["Status"] not in ("Succeeded", "Failed", "Stopped", "TimedOut"):
        result = _call(endpoint, "DescribeExecution", FlowName=flow_name, ExecutionName=result["Name"],
                       WaitTimeSeconds=20)
    if wait:
        _print(result)
        sys.exit(0 if result["Status"] == "Succeeded" else 1)


@exec_group.command("list")
@click.argument("flow_name")
@click.option("--status")
@click.option("--prefix")
@endpoint_option
def exec_list(flow_name: str, status: str | None, prefix: str | None, endpoint: str | None) -> None:
    for item in _listing(endpoint, "ListExecutions", "Executions", FlowName=flow_name, Status=status,
                         ExecutionNamePrefix=prefix, MetadataOnly="true"):
        click.echo(f"{item['Name']}\t{item['Status']}\t{item['StartedTime']}\t{item['StoppedTime']}")


@exec_group.command("history")
@click.argument("flow_name")
@click.argument("name")
@click.option("--follow", is_flag=True, help="keep printing events until the execution ends")
@endpoint_option
def exec_history(flow_name: str, name: str, follow: bool, endpoint: str | None) -> None:
    token = None
    while True:
        page = _call(endpoint, "GetExecutionHistory", FlowName=flow_name, ExecutionName=name, Limit=500,
                     NextToken=token)
        for event in page["Events"]:
            click.echo(f"{event['EventId']:>5} {event['Time']} {event['Type']:<20} {event['StepName']} "
                       f"{event['EventDetail']}")
            token = str(event["EventId"])
        if page.get("NextToken"):
            continue
        if not follow:
            return
        status = _call(endpoint, "DescribeExecution", FlowName=flow_name, ExecutionName=name)["Status"]
        if status in ("Succeeded", "Failed", "Stopped", "TimedOut") and not page["Events"]:
            return
        time.sleep(0.5)


@exec_group.command("stop")
@click.argument("flow")
@click.argument("name")
@click.option("--error", default="", help="the error recorded on ExecutionStopped")
@click.option("--cause", default="", help="its detail")
@endpoint_option
def exec_stop(flow: str, name: str, error: str, cause: str, endpoint: str | None) -> None:
    """Stop FLOW's execution NAME; what it started is cancelled too."""
    result = _call(endpoint, "StopExecution", FlowName=flow, ExecutionName=name, Error=error, Cause=cause)
    click.echo(f"{flow}/{name}: {result.get('Status')}")


@exec_group.command("describe")
@click.argument("flow")
@click.argument("name")
@click.option("--wait", "wait", default=0, help="long-poll up to this many seconds for the end")
@endpoint_option
def exec_describe(flow: str, name: str, wait: int, endpoint: str | None) -> None:
    result = _call(endpoint, "DescribeExecution", FlowName=flow, ExecutionName=name, WaitTimeSeconds=wait)
    result.pop("RequestId", None)
    click.echo(json.dumps(result, indent=2, ensure_ascii=False))


def db_option(command: Any) -> Any:
    command = click.option("--db", type=click.Path(dir_okay=False),
                           help="the SQLite database of the Stateway that owns the queue")(command)
    return store_option(command)


def _store(db: str | None, store_url: str | None = None) -> Any:
    from stateway.cli._stores import open_configured_store
    from stateway.store import SQLiteStore

    if db and store_url:
        raise click.UsageError("give --db or --store, not both")
    if store_url:
        return open_configured_store(store_url, {})
    if not db:
        raise click.UsageError("which queue store? give --db FILE or --store URL (or set STATEWAY_STORE)")
    return SQLiteStore(db)


@cli.group()
def queue() -> None:
    """The built-in durable queue (stands in for MNS)."""


@queue.command("send")
@click.argument("name")
@click.argument("body")
@click.option("--priority", default=8, type=click.IntRange(1, 16))
@click.option("--delay", default=0, type=click.IntRange(0, 604800))
@db_option
def queue_send(name: str, body: str, priority: int, delay: int, db: str | None, store_url: str | None) -> None:
    sent = _store(db, store_url).send_message(name, body, priority, delay, time.time())
    click.echo(sent["id"])


@queue.command("receive")
@click.argument("name")
@click.option("--wait", "wait", default=0, type=click.IntRange(0, 30), help="long-poll seconds")
@click.option("--visibility", default=30, type=click.IntRange(1, 43200), help="seconds hidden after receipt")
@click.option("--count", default=1, type=click.IntRange(1, 16))
@db_option
def queue_receive(name: str, wait: int, visibility: int, count: int, db: str | None,
                  store_url: str | None) -> None:
    """Print received messages as JSON lines (with receipt handles for delete)."""
    store = _store(db, store_url)
    deadline = time.monotonic() + wait
    while True:
        messages = store.receive_messages(name, time.time(), count, visibility)
        if messages or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    if not messages:
        click.echo("no message", err=True)
        sys.exit(1)
    for message in messages:
        click.echo(json.dumps({"MessageId": message["id"], "ReceiptHandle": message["receipt_handle"],
                               "MessageBody": message["body"], "DequeueCount": message["dequeue_count"]},
                              ensure_ascii=False))


@queue.command("delete")
@click.argument("name")
@click.argument("receipt_handle")
@db_option
def queue_delete(name: str, receipt_handle: str, db: str | None, store_url: str | None) -> None:
    if not _store(db, store_url).delete_message(name, receipt_handle):
        click.echo("error: ReceiptHandleError: the receipt handle is not valid (expired or deleted)", err=True)
        sys.exit(1)


@queue.command("visibility")
@click.argument("name")
@click.argument("receipt_handle")
@click.argument("seconds", type=click.IntRange(0, 43200))
@db_option
def queue_visibility(name: str, receipt_handle: str, seconds: int, db: str | None, store_url: str | None) -> None:
    """Hide a received message for SECONDS more (0: visible now); prints the new receipt handle."""
    handle = _store(db, store_url).change_visibility(name, receipt_handle, time.time() + seconds)
    if handle is None:
        click.echo("error: MessageNotExist: the receipt handle is not valid (expired or deleted)", err=True)
        sys.exit(1)
    click.echo(handle)


@queue.command("list")
@db_option
def queue_list(db: str | None, store_url: str | None) -> None:
    for q in _store(db, store_url).list_queues():
        click.echo(f"{q['name']}\t{q['messages']} messages")


def main() -> None:
    cli()
