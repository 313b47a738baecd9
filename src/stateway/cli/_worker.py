"""``stateway worker``: the engine and the dispatcher without an API. Any number of workers (and
``serve --api-only`` nodes) share one PostgreSQL store; each claims due work with a lease."""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

import click

from stateway.cli._stores import build_node, load_settings, store_option


@click.command("worker")
@store_option
@click.option("--functions", "functions_dir", type=click.Path(file_okay=False), help="local functions directory")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="TOML: [store], access_keys, functions, limits")
@click.option("--endpoint", envvar="STATEWAY_ENDPOINT",
              help="host:port of an API node, given to functions that call back (STATEWAY_ENDPOINT)")
@click.option("--metrics-port", type=click.IntRange(0, 65535), help="serve /healthz, /readyz and /metrics here")
@click.option("--metrics-host", default="127.0.0.1", show_default=True)
def worker_command(store_url: str | None, functions_dir: str | None, config_path: str | None,
                   endpoint: str | None, metrics_port: int | None, metrics_host: str) -> None:
    """Run executions from a shared store: claim due work, decide, dispatch. No API."""
    settings = load_settings(config_path, store_url=store_url, functions_dir=functions_dir).listening_on(None)
    if not settings.store.target:
        raise click.UsageError("a worker needs --store (or STATEWAY_STORE, or [store] url in --config)")
    environment = {}
    if endpoint:
        environment["STATEWAY_ENDPOINT"] = endpoint
    if settings.first_key:
        key_id, secret = settings.first_key
        environment.update({"ALIBABA_CLOUD_ACCESS_KEY_ID": key_id, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": secret})
    # the same settings as serve's (give workers the same config file), so a flow runs the same on either
    node = build_node(settings.with_function_env(environment), engine_lock=True)
    runtime = node.runtime
    server = None
    if metrics_port is not None:
        from stateway.api import BackgroundServer
        from stateway.api._ops import ops_app

        server = BackgroundServer(ops_app(runtime), metrics_host, metrics_port).start()
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    node.start()
    ops = f"; /metrics on http://{server.endpoint}" if server else ""
    click.echo(f"stateway: worker {runtime.owner} running ({settings.store.target.split('@')[-1]}){ops}", err=True)
    sys.stderr.flush()
    while not stop.wait(3600):
        pass
    click.echo("stateway: worker stopping; its claims go back to the store", err=True)
    if server is not None:
        node.on_close(server.stop)
    node.close()
