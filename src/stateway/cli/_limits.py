"""``stateway flow limit FLOW --max-running N [--key EXPR] [--starts-per-second R]``: a flow's
concurrency limit (docs/operations.md, "Concurrency limits"), set through UpdateFlow's Stateway
parameters on a running Stateway."""

from __future__ import annotations

from typing import Any

import click

from stateway.cli._remote import _call, endpoint_option


@click.command("limit")
@click.argument("name")
@click.option("--max-running", type=click.IntRange(0, 1_000_000),
              help="at most this many executions Running at once; more wait as Starting (0: no cap)")
@click.option("--key", "key", help="an expression on the input, such as '$Input.customerId': executions are "
                                   "sorted by its value, and the keys are served in turn")
@click.option("--starts-per-second", type=click.FloatRange(0, 1_000_000),
              help="admit at most this many executions a second (0: no rate limit)")
@click.option("--clear", is_flag=True, help="remove the flow's limit: what waits starts now")
@endpoint_option
def flow_limit(name: str, max_running: int | None, key: str | None, starts_per_second: float | None, clear: bool,
               endpoint: str) -> None:
    """Limit how many executions of flow NAME run at once, and how fast they start."""
    if clear:
        max_running, key, starts_per_second = 0, "", 0
    elif max_running is None and key is None and starts_per_second is None:
        raise click.UsageError("give --max-running, --key, --starts-per-second or --clear")
    params: dict[str, Any] = {"Name": name, "MaxRunning": max_running, "ConcurrencyKey": key,
                              "StartsPerSecond": starts_per_second}
    if key == "":
        params["ConcurrencyKey"] = ""
    result = _call(endpoint, "UpdateFlow", **params)
    if not result.get("MaxRunning") and not result.get("StartsPerSecond"):
        click.echo(f"flow {name}: no concurrency limit")
        return
    parts = [f"at most {result['MaxRunning']} running" if result.get("MaxRunning") else "no cap on running"]
    if result.get("ConcurrencyKey"):
        parts.append(f"keys {result['ConcurrencyKey']} served in turn")
    if result.get("StartsPerSecond"):
        parts.append(f"at most {result['StartsPerSecond']:g} starts/s")
    click.echo(f"flow {name}: " + ", ".join(parts))
