"""``kill -HUP`` on ``stateway serve``: read the access keys and their policies again, without a
restart. A key removed (or given a new secret) ends its console sessions; a policy changed applies
to the next request. A config that does not load leaves the keys as they were."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Mapping

import click

from stateway.policies import Keyring, Policy

Loader = Callable[[], tuple[Mapping[str, str], Mapping[str, Policy]]]


def reload_keys(keyring: Keyring, load: Loader) -> None:
    try:
        secrets, policies = load()
    except Exception as exc:  # a bad file: say so, keep serving with the keys we have
        click.echo(f"stateway: SIGHUP: access keys not reloaded: {exc}", err=True)
        return
    gone = keyring.replace(secrets, policies)
    ended = f"; sessions of {', '.join(sorted(gone))} ended" if gone else ""
    click.echo(f"stateway: SIGHUP: {len(secrets)} access key(s) loaded, {len(policies)} with a policy{ended}",
               err=True)


def on_sighup(keyring: Keyring, load: Loader) -> None:
    """Reload on SIGHUP, on a thread of its own: the handler runs between two bytecodes of the main
    thread (the event loop), which must not wait for the store."""
    if not hasattr(signal, "SIGHUP"):
        return

    def handler(signum: int, frame: object) -> None:
        threading.Thread(target=reload_keys, args=(keyring, load), name="stateway-reload", daemon=True).start()

    signal.signal(signal.SIGHUP, handler)
