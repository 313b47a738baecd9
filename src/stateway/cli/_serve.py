"""``stateway serve``: the API, the engine, the function runtime and the queue in one process."""

from __future__ import annotations

import ipaddress
import os
import sys
import tomllib
from pathlib import Path
from typing import Any

import click
import uvicorn

from stateway.api import DEV_CREDENTIALS, create_app
from stateway.integrations.http import HostRules
from stateway.runtime import Runtime
from stateway.services import FunctionRuntime
from stateway.store import DatabaseInUse, EngineLock, lock_engine, sqlite_path


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_config(path: str | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        return tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise click.UsageError(f"--config {path}: {exc}") from None


def access_keys(config: dict[str, Any]) -> dict[str, str]:
    """Key pairs from the config file (``[[access_keys]] id/secret``) and ``STATEWAY_ACCESS_KEYS=id:secret,...``."""
    keys = {str(k["id"]): str(k["secret"]) for k in config.get("access_keys", [])}
    for pair in filter(None, os.environ.get("STATEWAY_ACCESS_KEYS", "").split(",")):
        key_id, _, secret = (part.strip() for part in pair.partition(":"))
        if not key_id or not secret:
            raise click.UsageError("STATEWAY_ACCESS_KEYS takes id:secret pairs separated by commas, "
                                   "each with a non-empty id and secret")
        keys[key_id] = secret
    for key_id, secret in keys.items():
        if not key_id.strip() or not secret:
            raise click.UsageError("[[access_keys]] entries need a non-empty id and secret")
    return keys


def http_config(config: dict[str, Any], config_path: str | None) -> dict[str, Any] | None:
    """``[http] allow/deny`` for HTTP:Request, checked now so that a typo stops the start, not a task."""
    try:
        HostRules.parse(config.get("http"))
    except ValueError as exc:
        raise click.UsageError(f"--config {config_path}: {exc}") from None
    return config.get("http")


def hold_engine_lock(database: str) -> EngineLock:
    """The engine lock of ``database`` for this process's lifetime, or exit 2 naming the holder."""
    try:
        return lock_engine(database)
    except DatabaseInUse as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


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
    config = load_config(config_path)
    if not _port_free(host, port):
        raise click.UsageError(f"--port {port}: the port is taken on {host}")
    keys = access_keys(config)
    http_rules = http_config(config, config_path)
    if not keys:
        if not is_loopback(host):
            click.echo(f"error: refusing to listen on {host} without access keys; configure [[access_keys]] in "
                       "--config or STATEWAY_ACCESS_KEYS", err=True)
            sys.exit(2)
        keys = dict(DEV_CREDENTIALS)
        click.echo("stateway: no access keys configured; accepting the development pair test/test on loopback",
                   err=True)
    from stateway.cli._stores import is_shared, lease_seconds, open_configured_store, store_target

    target = store_target(store_url, config, data_dir)
    if api_only and not is_shared(target):
        raise click.UsageError("--api-only needs a shared store: --store postgresql://...")
    engine_lock = None
    if not is_shared(target):  # SQLite: one engine per database file
        if target == data_dir:
            os.makedirs(data_dir, exist_ok=True)
        engine_lock = hold_engine_lock(sqlite_path(target))
    key_id, secret = next(iter(keys.items()))
    endpoint = f"{host}:{port}"
    functions = FunctionRuntime(functions_dir, config.get("functions"), environment={
        "STATEWAY_ENDPOINT": endpoint, "ALIBABA_CLOUD_ACCESS_KEY_ID": key_id,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": secret})
    runtime = Runtime(open_configured_store(target, config),
                      settings={"function_runtime": functions, "limits": config.get("limits"),
                                "express": config.get("express"), "http": http_rules,
                                "oss_buckets": bucket_dirs(config, oss_buckets),
                                "lease_seconds": lease_seconds(config)})
    app = create_app(runtime, keys, endpoint)
    runtime.listeners.append(_logging.ExecutionLog(runtime))
    if not api_only:
        runtime.start()
    where = f"data in {data_dir}" if target == data_dir else f"store {target.split('@')[-1]}"
    click.echo(f"stateway: serving CloudFlow's API on http://{endpoint} ({where}"
               f"{'; API only' if api_only else ''})", err=True)
    click.echo(f"stateway: web console on http://{endpoint}/console/", err=True)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", lifespan="off", timeout_keep_alive=600)
    finally:
        app.state.service.close()
        runtime.close()
        runtime.store.close()
        if engine_lock is not None:
            engine_lock.release()


def bucket_dirs(config: dict[str, Any], options: tuple[str, ...] = ()) -> dict[str, str]:
    """``[oss_buckets]`` of the config file, then ``--oss-bucket NAME=DIR``: bucket names for ItemReader."""
    buckets = {str(k): str(v) for k, v in (config.get("oss_buckets") or {}).items()}
    for option in options:
        name, sep, directory = option.partition("=")
        if not sep or not name or not directory:
            raise click.BadParameter(f"{option!r}: use NAME=DIR", param_hint="--oss-bucket")
        buckets[name] = directory
    for name, directory in buckets.items():
        if not os.path.isdir(directory):
            raise click.BadParameter(f"bucket {name!r}: {directory} is not a directory", param_hint="--oss-bucket")
    return buckets
