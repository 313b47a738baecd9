"""``stateway flow publish|versions|unpublish|alias …``: versions and aliases on a running Stateway
(versions-and-maprun.md §1-§2)."""

from __future__ import annotations

import json

import click

from stateway.cli._output import _dump, _table
from stateway.cli._remote import _call, _listing, endpoint_option, json_option


def _routes(routes: tuple[str, ...]) -> str:
    """``1=90 2=10`` → the RoutingConfigurations JSON the API takes."""
    parsed = []
    for route in routes:
        version, _, weight = route.partition("=")
        if not version.isdigit() or not weight.isdigit():
            raise click.BadParameter(f"{route!r}: use VERSION=WEIGHT, e.g. 1=90", param_hint="--route")
        parsed.append({"Version": version, "Weight": int(weight)})
    return json.dumps(parsed)


@click.command("publish")
@click.argument("name")
@click.option("--description", default="", help="the version's own description")
@endpoint_option
def flow_publish(name: str, description: str, endpoint: str | None) -> None:
    """Publish the flow's current definition as a new immutable version."""
    result = _call(endpoint, "PublishFlowVersion", FlowName=name, Description=description)
    click.echo(f"published {name} version {result['Version']}")


@click.command("versions")
@click.argument("name")
@json_option
@endpoint_option
def flow_versions(name: str, as_json: bool, endpoint: str | None) -> None:
    """List NAME's versions, newest first."""
    versions = list(_listing(endpoint, "ListFlowVersions", "FlowVersions", FlowName=name))
    if as_json:
        _dump(versions)
        return
    _table(["VERSION", "CREATED", "DESCRIPTION"], [(v["Version"], v["CreatedTime"], v["Description"])
                                                   for v in versions], empty="no version published")


@click.command("unpublish")
@click.argument("name")
@click.argument("version")
@endpoint_option
def flow_unpublish(name: str, version: str, endpoint: str | None) -> None:
    """Delete a version (refused while an alias routes to it)."""
    _call(endpoint, "DeleteFlowVersion", FlowName=name, FlowVersion=version)
    click.echo(f"deleted {name} version {version}")


@click.group("alias")
def alias() -> None:
    """Aliases: named, weighted routes over one or two versions (StartExecution --qualifier ALIAS)."""


route_option = click.option("--route", "routes", multiple=True, metavar="VERSION=WEIGHT",
                            help="a version and its relative weight; once or twice (e.g. --route 1=90 --route 2=10)")


@alias.command("create")
@click.argument("flow_name")
@click.argument("name")
@route_option
@click.option("--description", default="")
@endpoint_option
def alias_create(flow_name: str, name: str, routes: tuple[str, ...], description: str, endpoint: str | None) -> None:
    """Create alias NAME of FLOW_NAME."""
    if not routes:
        raise click.UsageError("give at least one --route VERSION=WEIGHT")
    _call(endpoint, "CreateFlowAlias", FlowName=flow_name, Name=name, Description=description,
          RoutingConfigurations=_routes(routes))
    click.echo(f"created alias {flow_name}:{name}")


@alias.command("update")
@click.argument("flow_name")
@click.argument("name")
@route_option
@click.option("--description", default=None, help="replace the description (absent: kept)")
@endpoint_option
def alias_update(flow_name: str, name: str, routes: tuple[str, ...], description: str | None,
                 endpoint: str | None) -> None:
    """Move alias NAME: only executions started after this use the new routes."""
    _call(endpoint, "UpdateFlowAlias", FlowName=flow_name, Name=name, Description=description,
          RoutingConfigurations=_routes(routes) if routes else None)
    click.echo(f"updated alias {flow_name}:{name}")


@alias.command("describe")
@click.argument("flow_name")
@click.argument("name")
@endpoint_option
def alias_describe(flow_name: str, name: str, endpoint: str | None) -> None:
    """Print the alias as JSON."""
    _dump(_call(endpoint, "DescribeFlowAlias", FlowName=flow_name, Name=name)["Alias"])


@alias.command("list")
@click.argument("flow_name")
@json_option
@endpoint_option
def alias_list(flow_name: str, as_json: bool, endpoint: str | None) -> None:
    """List FLOW_NAME's aliases by name."""
    aliases = list(_listing(endpoint, "ListFlowAliases", "Aliases", FlowName=flow_name))
    if as_json:
        _dump(aliases)
        return
    _table(["ALIAS", "ROUTES", "DESCRIPTION"],
           [(a["Name"], " ".join(f"{r['Version']}={r['Weight']}" for r in a["RoutingConfigurations"]),
             a["Description"]) for a in aliases], empty="no alias")


@alias.command("delete")
@click.argument("flow_name")
@click.argument("name")
@endpoint_option
def alias_delete(flow_name: str, name: str, endpoint: str | None) -> None:
    """Delete the alias; its versions stay."""
    _call(endpoint, "DeleteFlowAlias", FlowName=flow_name, Name=name)
    click.echo(f"deleted alias {flow_name}:{name}")


@click.group("maprun")
def maprun() -> None:
    """Map Runs: the child executions of a distributed Map."""


@maprun.command("describe")
@click.argument("flow_name")
@click.argument("execution_name")
@click.argument("map_run_name")
@json_option
@endpoint_option
def maprun_describe(flow_name: str, execution_name: str, map_run_name: str, as_json: bool,
                    endpoint: str | None) -> None:
    """Status, settings and item counts of a Map Run (its name is in the parent's MapRunStarted event)."""
    run = _call(endpoint, "DescribeMapRun", FlowName=flow_name, ExecutionName=execution_name,
                MapRunName=map_run_name)
    if as_json:
        _dump(run)
        return
    counts = run["ItemCounts"]
    click.echo(f"map run      {run['MapRunName']} of {flow_name}/{execution_name}")
    click.echo(f"status       {run['Status']}  (started {run['StartedTime']}"
               + (f", stopped {run['StoppedTime']})" if run["StoppedTime"] else ")"))
    click.echo(f"concurrency  {run['Concurrency']}")
    click.echo(f"tolerated    {run['ToleratedFailedCount']} failed items, {run['ToleratedFailedPercentage']}%")
    _table(["PENDING", "RUNNING", "SUCCEEDED", "FAILED", "ABORTED", "TOTAL"],
           [(counts["Pending"], counts["Running"], counts["Succeed"], counts["Failed"], counts["Aborted"],
             counts["Total"])])


@maprun.command("update")
@click.argument("flow_name")
@click.argument("execution_name")
@click.argument("map_run_name")
@click.option("--concurrency", type=click.IntRange(min=1), help="children running at once")
@click.option("--tolerated-count", type=click.IntRange(min=0), help="failed items tolerated")
@click.option("--tolerated-percentage", type=click.FloatRange(0, 100), help="failed items tolerated, in percent")
@endpoint_option
def maprun_update(flow_name: str, execution_name: str, map_run_name: str, concurrency: int | None,
                  tolerated_count: int | None, tolerated_percentage: float | None, endpoint: str | None) -> None:
    """Change a running Map Run's concurrency or failure tolerance; a lowered tolerance applies at once."""
    if concurrency is None and tolerated_count is None and tolerated_percentage is None:
        raise click.UsageError("give --concurrency, --tolerated-count or --tolerated-percentage")
    run = _call(endpoint, "UpdateMapRun", FlowName=flow_name, ExecutionName=execution_name, MapRunName=map_run_name,
                Concurrency=concurrency, ToleratedFailedCount=tolerated_count,
                ToleratedFailedPercentage=tolerated_percentage)
    click.echo(f"map run {map_run_name}: concurrency {run['Concurrency']}, tolerated {run['ToleratedFailedCount']} "
               f"items / {run['ToleratedFailedPercentage']}%")
