"""Which store a command uses: ``--store URL``, else ``STATEWAY_STORE``, else ``[store] url`` in the
config file, else the SQLite database in the data directory (exactly as before there was a choice)."""

from __future__ import annotations

from typing import Any

import click

from stateway.store import Store, open_store

store_option = click.option(
    "--store", "store_url", envvar="STATEWAY_STORE", metavar="URL",
    help="postgresql://user@host:port/db (shared by many processes), sqlite:///path.db, or a directory "
         "[env STATEWAY_STORE; config [store] url]")

_STORE_OPTIONS = {"pool_size": int, "statement_timeout": float, "connect_timeout": float, "startup_timeout": float}


def is_shared(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))


def store_target(store_url: str | None, config: dict[str, Any], default: str) -> str:
    section = config.get("store") or {}
    return store_url or section.get("url") or default


def open_configured_store(target: str, config: dict[str, Any]) -> Store:
    """Open ``target`` with the ``[store]`` tuning of the config file (PostgreSQL only)."""
    section = config.get("store") or {}
    options = {}
    if target.startswith(("postgresql://", "postgres://")):
        for key, kind in _STORE_OPTIONS.items():
            if key in section:
                try:
                    options[key] = kind(section[key])
                except (TypeError, ValueError):
                    raise click.UsageError(f"[store] {key} must be a number, got {section[key]!r}") from None
    try:
        return open_store(target, **options)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    except Exception as exc:  # unreachable database after the startup retries, bad credentials, ...
        raise click.ClickException(f"cannot open the store {_redacted(target)}: {exc}") from None


def lease_seconds(config: dict[str, Any]) -> float | None:
    value = (config.get("store") or {}).get("lease_seconds")
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise click.UsageError(f"[store] lease_seconds must be a number, got {value!r}") from None
    if not 1 <= seconds <= 600:
        raise click.UsageError("[store] lease_seconds must be between 1 and 600")
    return seconds


def _redacted(target: str) -> str:
    """A URL without its password, for messages."""
    if "://" in target and "@" in target:
        scheme, rest = target.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        return f"{scheme}://{credentials.split(':', 1)[0]}@{host}"
    return target
