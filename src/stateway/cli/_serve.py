"""``stateway serve``: the API, the engine, the function runtime and the queue in one process."""

from __future__ import annotations

import ipaddress
import sys

import click
import uvicorn

from stateway.api import DEV_CREDENTIALS, ClosingServer, create_app
from stateway.api._guard import (
    BODY_TIMEOUT,
    HEADER_TIMEOUT,
    IDLE_TIMEOUT,
    PER_CLIENT,
    ConnectionLimits,
    uvicorn_options,
)
from stateway.api._server import endpoint_of, port_free
from stateway.cli._reload import on_sighup
from stateway.cli._stores import build_node, load_settings
from stateway.policies import Keyring, Policy
from stateway.settings import Settings


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True)
@click.option("--data-dir", default="./.stateway", show_default=True, type=click.Path(file_okay=False),
              help="holds the SQLite database and the server's secret")
@click.option("--functions", "functions_dir", type=click.Path(file_okay=False), help="local functions directory")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="TOML: access_keys, functions, limits")
@click.option("--oss-bucket", "oss_buckets", multiple=True, metavar="NAME=DIR",
              help="a bucket name a distributed Map's ItemReader may name, and the directory it stands for")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="one line per execution start and end and per task waiting for a callback")
@click.option("--store", "store_url", envvar="STATEWAY_STORE", metavar="URL",
              help="postgresql://user@host:port/db (shared by many processes), sqlite:///path.db, or a directory "
                   "(default: --data-dir) [env STATEWAY_STORE; config [store] url]")
@click.option("--api-only", is_flag=True, help="serve the API only; workers (`stateway worker`) run the executions")
@click.option("--header-timeout", default=HEADER_TIMEOUT, show_default=True, type=click.FloatRange(min=0.1),
              help="seconds a client has to send a request's headers, from its first byte")
@click.option("--body-timeout", default=BODY_TIMEOUT, show_default=True, type=click.FloatRange(min=0.1),
              help="seconds a client has to send a request's body, once its headers are in")
@click.option("--idle-timeout", default=IDLE_TIMEOUT, show_default=True, type=click.FloatRange(min=1),
              help="seconds an idle keep-alive connection stays open (the MNS SDK needs minutes)")
@click.option("--max-connections-per-client", "per_client", default=PER_CLIENT, show_default=True,
              type=click.IntRange(min=0), help="connections one client address may hold (0: no cap; raise it "
                                               "behind a proxy, where every client has the proxy's address)")
def serve_command(host: str, port: int, data_dir: str, functions_dir: str | None, config_path: str | None,
                  oss_buckets: tuple[str, ...] = (), log_format: str = "text", store_url: str | None = None,
                  api_only: bool = False, header_timeout: float = HEADER_TIMEOUT, body_timeout: float = BODY_TIMEOUT,
                  idle_timeout: float = IDLE_TIMEOUT, per_client: int = PER_CLIENT) -> None:
    """Serve CloudFlow's API (and the MNS queue API under /queues) backed by the embedded engine."""
    from stateway.cli import _logging

    _logging.configure(log_format)

    def load() -> Settings:
        return load_settings(config_path, store_url=store_url, data_dir=data_dir, functions_dir=functions_dir,
                             oss_buckets=bucket_options(oss_buckets), log_format=log_format).listening_on(host)

    settings = load()
    if not port_free(host, port):
        raise click.UsageError(f"--port {port}: the port is taken on {host}")
    keys = dict(settings.access_keys)
    if not keys:
        if not is_loopback(host):
            click.echo(f"error: refusing to listen on {host} without access keys; configure [[access_keys]] in "
                       "--config or STATEWAY_ACCESS_KEYS", err=True)
            sys.exit(2)
        keys = dict(DEV_CREDENTIALS)
        click.echo("stateway: no access keys configured; accepting the development pair test/test on loopback",
                   err=True)
    keyring = Keyring(keys, settings.access_policies)

    def reloaded() -> tuple[dict[str, str], dict[str, Policy]]:
        fresh = load()
        if not fresh.access_keys and not is_loopback(host):
            raise ValueError(f"the configuration has no access keys, and {host} is not loopback")
        return dict(fresh.access_keys or DEV_CREDENTIALS), dict(fresh.access_policies)
    if api_only and not settings.store.shared:
        raise click.UsageError("--api-only needs a shared store: --store postgresql://...")
    # functions call back (ReportTask*) with it: a key without a policy if there is one
    key_id, secret = next(((k, v) for k, v in keys.items() if keyring.policy(k).unrestricted),
                          next(iter(keys.items())))
    endpoint = endpoint_of(host, port)
    # functions that call back learn where and how before anything is built
    settings = settings.with_function_env({"STATEWAY_ENDPOINT": endpoint, "ALIBABA_CLOUD_ACCESS_KEY_ID": key_id,
                                           "ALIBABA_CLOUD_ACCESS_KEY_SECRET": secret})
    node = build_node(settings, engine_lock=True)  # SQLite: one engine per database file
    runtime = node.runtime
    app = create_app(runtime, keyring, endpoint)
    on_sighup(keyring, reloaded)
    node.on_close(app.state.service.close)
    runtime.listeners.append(_logging.ExecutionLog(runtime))
    if not api_only:
        node.start()
    target = settings.store.target
    where = f"data in {data_dir}" if target == data_dir else f"store {target.split('@')[-1]}"
    click.echo(f"stateway: serving CloudFlow's API on http://{endpoint} ({where}"
               f"{'; API only' if api_only else ''})", err=True)
    click.echo(f"stateway: web console on http://{endpoint}/console/", err=True)
    try:
        limits = ConnectionLimits(header_timeout=header_timeout, body_timeout=body_timeout, idle_timeout=idle_timeout,
                                  per_client=per_client)
        ClosingServer(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off",
                                     **uvicorn_options(limits))).run()
    finally:
        node.close()


def bucket_options(options: tuple[str, ...] = ()) -> dict[str, str]:
    """``--oss-bucket NAME=DIR`` options (over ``[oss_buckets]`` of the config file)."""
    buckets = {}
    for option in options:
        name, sep, directory = option.partition("=")
        if not sep or not name or not directory:
            raise click.BadParameter(f"{option!r}: use NAME=DIR", param_hint="--oss-bucket")
        buckets[name] = directory
    return buckets
