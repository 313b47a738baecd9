"""``stateway exec redrive|stop|delete`` (one execution, or ``--all`` matching a filter as a bulk
operation with a progress bar), ``stateway bulk list|describe|cancel`` and ``stateway flow update
… --retention-days N``, on a running Stateway."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from stateway.cli._output import _dump, _pairs, _table
from stateway.cli._remote import _call, endpoint_option, json_option
from stateway.cli._run import read_text

ENDED_JOB = ("Succeeded", "Cancelled")
VERBS = {"stop": "stop", "redrive": "redrive", "delete": "delete"}


def filter_options(command: Any) -> Any:
    for option in reversed([
        click.option("--flow", "flow_name", help="select executions of this flow"),
        click.option("--status", help="... with this status (Running, Failed, Succeeded, Stopped, TimedOut)"),
        click.option("--prefix", "name_prefix", help="... whose name starts with this"),
        click.option("--started-after", help="... started at or after this time (2026-01-31T12:00:00Z)"),
        click.option("--started-before", help="... started at or before this time"),
        click.option("--error", help="... that ended with this error name"),
        click.option("--map-run", help="... children of this distributed Map's run"),
        click.option("--all", "select_all", is_flag=True, help="act on every execution the filter selects, as a "
                     "background bulk operation"),
        click.option("--yes", "-y", is_flag=True, help="do not ask for confirmation"),
        click.option("--no-wait", is_flag=True, help="start the bulk operation and print its id; do not follow it"),
    ]):
        command = option(command)
    return command


def _describe_filter(params: dict[str, Any]) -> str:
    parts = [f"of flow {params['FlowName']}"]
    for key, label in (("Status", "status"), ("ExecutionNamePrefix", "name prefix"), ("StartedTimeBegin",
                       "started after"), ("StartedTimeEnd", "started before"), ("ErrorCode", "error"),
                       ("MapRunName", "Map Run")):
        if params.get(key):
            parts.append(f"{label} {params[key]}")
    return ", ".join(parts)


def run_bulk(operation: str, endpoint: str, flow_name: str | None, status: str | None, name_prefix: str | None,
             started_after: str | None, started_before: str | None, error: str | None, map_run: str | None,
             yes: bool, no_wait: bool) -> None:
    if not flow_name:
        raise click.UsageError("--all needs --flow (and any of --status, --prefix, --started-after, "
                               "--started-before, --error, --map-run)")
    params = {"FlowName": flow_name, "Status": status, "ExecutionNamePrefix": name_prefix,
              "StartedTimeBegin": started_after, "StartedTimeEnd": started_before, "ErrorCode": error,
              "MapRunName": map_run}
    params = {k: v for k, v in params.items() if v}
    if not yes:
        click.confirm(f"{VERBS[operation]} every execution {_describe_filter(params)}?", abort=True, err=True)
    job = _call(endpoint, "StartBulkOperation", Operation=operation, **params)
    click.echo(f"bulk operation {job['BulkOperationId']}: {operation} {job['Total']} executions", err=True)
    if no_wait:
        click.echo(job["BulkOperationId"])
        return
    job = follow(endpoint, job)
    click.echo(f"{job['Status']}: done {job['Done']}, skipped {job['Skipped']}, failed {job['Failed']} "
               f"of {job['Total']}")
    sys.exit(0 if job["Status"] == "Succeeded" and not job["Failed"] else 1)


def follow(endpoint: str, job: dict[str, Any]) -> dict[str, Any]:
    """A progress bar until the job ends (on a terminal; elsewhere it just waits)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.fields[counts]}"), console=console, transient=not console.is_terminal) as bar:
        task = bar.add_task(job["Operation"], total=job["Total"] or 1, counts="")
        while True:
            seen = job["Done"] + job["Skipped"] + job["Failed"]
            bar.update(task, completed=seen, counts=f"done {job['Done']} skipped {job['Skipped']} "
                       f"failed {job['Failed']}")
            if job["Status"] in ENDED_JOB:
                return job
            time.sleep(0.25)
            job = _call(endpoint, "DescribeBulkOperation", BulkOperationId=job["BulkOperationId"])


def _single_or_bulk(operation: str, flow_arg: str | None, name: str | None, select_all: bool,
                    kwargs: dict[str, Any]) -> bool:
    """True when the command acts on one execution (FLOW NAME); a usage error for a mix."""
    if select_all:
        if name:
            raise click.UsageError("give FLOW NAME for one execution, or --all with a filter, not both")
        kwargs["flow_name"] = kwargs.get("flow_name") or flow_arg
        return False
    if not (flow_arg and name):
        raise click.UsageError(f"give FLOW NAME to {operation} one execution, or --all with --flow and a filter")
    return True


@click.command("redrive")
@click.argument("flow_arg", metavar="[FLOW]", required=False)
@click.argument("name", required=False)
@filter_options
@endpoint_option
def exec_redrive(flow_arg: str | None, name: str | None, select_all: bool, yes: bool, no_wait: bool, endpoint: str,
                 **selection: Any) -> None:
    """Redrive FLOW's execution NAME: it carries on from where it failed (Failed, TimedOut or Stopped,
    within [retention] redrive_days). With --all: every execution the filter selects."""
    if _single_or_bulk("redrive", flow_arg, name, select_all, selection):
        result = _call(endpoint, "RedriveExecution", FlowName=flow_arg, ExecutionName=name)
        click.echo(f"{flow_arg}/{name}: {result['Status']} (redrive {result['RedriveCount']})")
        return
    run_bulk("redrive", endpoint, yes=yes, no_wait=no_wait, **selection)


@click.command("stop")
@click.argument("flow_arg", metavar="[FLOW]", required=False)
@click.argument("name", required=False)
@click.option("--cause", default="", help="one execution: the detail recorded on ExecutionStopped")
@filter_options
@endpoint_option
def exec_stop(flow_arg: str | None, name: str | None, cause: str, select_all: bool, yes: bool,
              no_wait: bool, endpoint: str, **selection: Any) -> None:
    """Stop FLOW's execution NAME; what it started is cancelled too (--error: the error recorded on
    ExecutionStopped). With --all: every execution the filter selects (--error: those that ended with
    it); those not running are skipped."""
    if _single_or_bulk("stop", flow_arg, name, select_all, selection):
        result = _call(endpoint, "StopExecution", FlowName=flow_arg, ExecutionName=name,
                       Error=selection.get("error") or "", Cause=cause)
        click.echo(f"{flow_arg}/{name}: {result.get('Status')}")
        return
    run_bulk("stop", endpoint, yes=yes, no_wait=no_wait, **selection)


@click.command("delete")
@click.argument("flow_arg", metavar="[FLOW]", required=False)
@filter_options
@endpoint_option
def exec_delete(flow_arg: str | None, select_all: bool, yes: bool, no_wait: bool, endpoint: str,
                **selection: Any) -> None:
    """Delete ended executions the filter selects (--all), with their history, logs and Map Runs;
    running ones are skipped. A deleted execution is gone: its name can be used again."""
    if not select_all:
        raise click.UsageError("exec delete works on a selection: give --all with --flow and a filter")
    selection["flow_name"] = selection.get("flow_name") or flow_arg
    run_bulk("delete", endpoint, yes=yes, no_wait=no_wait, **selection)


@click.group("bulk")
def bulk() -> None:
    """Bulk operations (exec stop|redrive|delete --all) on a running Stateway."""


@bulk.command("list")
@click.option("--status", help="Running, Succeeded or Cancelled")
@json_option
@endpoint_option
def bulk_list(status: str | None, as_json: bool, endpoint: str) -> None:
    """List bulk operations, newest first."""
    jobs = _call(endpoint, "ListBulkOperations", Status=status)["BulkOperations"]
    if as_json:
        _dump(jobs)
        return
    _table(["ID", "OPERATION", "STATUS", "DONE", "SKIPPED", "FAILED", "TOTAL", "CREATED"],
           [(j["BulkOperationId"], j["Operation"], j["Status"], j["Done"], j["Skipped"], j["Failed"], j["Total"],
             j["CreatedTime"]) for j in jobs], empty="no bulk operation")


@bulk.command("describe")
@click.argument("operation_id")
@json_option
@endpoint_option
def bulk_describe(operation_id: str, as_json: bool, endpoint: str) -> None:
    """Show one bulk operation: its filter, status and counts."""
    job = _call(endpoint, "DescribeBulkOperation", BulkOperationId=operation_id)
    if as_json:
        _dump(job)
        return
    _pairs([("bulk operation", job["BulkOperationId"]), ("operation", job["Operation"]), ("status", job["Status"]),
            ("filter", ", ".join(f"{k}={v}" for k, v in job["Filter"].items())), ("total", job["Total"]),
            ("done", job["Done"]), ("skipped", job["Skipped"]), ("failed", job["Failed"]),
            ("created", job["CreatedTime"]), ("updated", job["UpdatedTime"])])


@bulk.command("cancel")
@click.argument("operation_id")
@endpoint_option
def bulk_cancel(operation_id: str, endpoint: str) -> None:
    """Cancel a running bulk operation after its current page."""
    job = _call(endpoint, "CancelBulkOperation", BulkOperationId=operation_id)
    click.echo(f"{operation_id}: {job['Status']} (done {job['Done']} of {job['Total']})")


@click.command("update")
@click.argument("name")
@click.argument("file", type=click.Path(dir_okay=False), required=False)
@click.option("--description", help="a new description (default: unchanged)")
@click.option("--retention-days", type=click.IntRange(0, 36500),
              help="delete this flow's ended executions this many days after their end (0: keep them); "
                   "overrides [retention] days")
@endpoint_option
def flow_update(name: str, file: str | None, description: str | None, retention_days: int | None,
                endpoint: str) -> None:
    """Replace flow NAME's definition with FILE, and/or change its settings."""
    if file is None and description is None and retention_days is None:
        raise click.UsageError("give a definition FILE, --description or --retention-days")
    _call(endpoint, "UpdateFlow", Name=name, Definition=read_text(file) if file else None, Description=description,
          RetentionDays=retention_days)
    click.echo(f"updated flow {name}")
