"""Settings and stores for the commands. Which store a command uses: ``--store URL``, else
``STATEWAY_STORE``, else ``[store] url`` in the config file, else the SQLite database in the data
directory (exactly as before there was a choice). Every setting is read by ``Settings.load``; a bad
one is a usage error (exit 2) naming its section and key."""

from __future__ import annotations

import sys
from typing import Any

import click

from stateway.node import Node, build
from stateway.node import open_configured_store as open_settings_store
from stateway.settings import Settings, SettingsError
from stateway.store import DatabaseInUse, Store

store_option = click.option(
    "--store", "store_url", envvar="STATEWAY_STORE", metavar="URL",
    help="postgresql://user@host:port/db (shared by many processes), sqlite:///path.db, or a directory "
         "[env STATEWAY_STORE; config [store] url]")


def load_settings(config_path: str | None, **overrides: Any) -> Settings:
    """``Settings.load`` for a command: a bad file or value is a usage error naming where it is."""
    try:
        return Settings.load(config_path, **overrides)
    except SettingsError as exc:
        where = f"--config {config_path}: " if config_path else ""
        raise click.UsageError(f"{where}{exc}") from None


def build_node(settings: Settings, **options: Any) -> Node:
    """``node.build`` for a command: a database in use exits 2 naming its holder; an unusable store
    URL is a usage error; an unreachable database (after the startup retries) exits 1."""
    try:
        return build(settings, **options)
    except DatabaseInUse as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    except Exception as exc:  # unreachable database, bad credentials, ...
        raise click.ClickException(f"cannot open the store {_redacted(settings.store.target)}: {exc}") from None


def open_store_of(settings: Settings) -> Store:
    """The store ``settings.store`` names (for commands that only use a store, not an engine): an
    unusable URL is a usage error; an unreachable database (after the startup retries) exits 1."""
    try:
        return open_settings_store(settings)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    except Exception as exc:  # unreachable database after the startup retries, bad credentials, ...
        raise click.ClickException(f"cannot open the store {_redacted(settings.store.target)}: {exc}") from None


def _redacted(target: str) -> str:
    """A URL without its password, for messages."""
    if "://" in target and "@" in target:
        scheme, rest = target.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        return f"{scheme}://{credentials.split(':', 1)[0]}@{host}"
    return target
