"""``stateway serve``: the API, the engine, the function runtime and the queue in one process."""

from __future__ import annotations

import ipaddress
import sys

import click
import uvicorn

from stateway.api import DEV_CREDENTIALS, ClosingServer, create_app
from stateway.cli._stores import build_node, load_settings


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
def serve_command(host: str, port: int, data_dir: str, functions_dir: str | None, config_path: str | None,
                  oss_buckets: tuple[str, ...] = (), log_format: str = "text", store_url: str | None = None,
                  api_only: bool = False) -> None:
    """Serve CloudFlow's API (and the MNS queue API under /queues) backed by the embedded engine."""
    from stateway.cli import _logging
    from stateway.cli._run import _port_free

    _logging.configure(log_format)
    settings = load_settings(config_path, store_url=store_url, data_dir=data_dir, functions_dir=functions_dir,
                             oss_buckets=bucket_options(oss_buckets), log_format=log_format)
    if not _port_free(host, port):
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
    if api_only and not settings.store.shared:
        raise click.UsageError("--api-only needs a shared store: --store postgresql://...")
    key_id, secret = next(iter(keys.items()))
    endpoint = f"{host}:{port}"
    # functions that call back learn where and how before anything is built
    settings = settings.with_function_env({"STATEWAY_ENDPOINT": endpoint, "ALIBABA_CLOUD_ACCESS_KEY_ID": key_id,
                                           "ALIBABA_CLOUD_ACCESS_KEY_SECRET": secret})
    node = build_node(settings, engine_lock=True)  # SQLite: one engine per database file
    runtime = node.runtime
    app = create_app(runtime, keys, endpoint)
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
        ClosingServer(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off",
                                     timeout_keep_alive=600)).run()
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
