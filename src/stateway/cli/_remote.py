"""Talking to a running Stateway from the command line: the ``--endpoint`` and ``--json`` options,
one RPC call (its error printed, exit 1), every item of a paged List* action."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import click

from stateway.client import ApiCallError, RpcClient

DEFAULT_ENDPOINT = "127.0.0.1:8765"


def _call(endpoint: str | None, action: str, **params: Any) -> dict[str, Any]:
    try:
        return RpcClient(endpoint).call(action, **params)
    except ApiCallError as exc:
        click.echo(f"error: {exc.code}: {exc.message}", err=True)
        sys.exit(1)


endpoint_option = click.option("--endpoint", envvar="STATEWAY_ENDPOINT", default=DEFAULT_ENDPOINT, show_envvar=True,
                               help="host:port of a running Stateway")
json_option = click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table or summary")


def _listing(endpoint: str | None, action: str, key: str, **params: Any) -> Iterator[dict[str, Any]]:
    """Every item of a paged List* action."""
    token = None
    while True:
        page = _call(endpoint, action, Limit=100, NextToken=token, **params)
        yield from page[key]
        token = page.get("NextToken")
        if not token:
            return
