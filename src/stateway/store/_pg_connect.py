"""The first connection to PostgreSQL, before the pool opens: a database that is not up yet is
waited for; one that refuses this client for good (no such role or database, a wrong password, no
``pg_hba.conf`` entry) ends the opening at once with one error that says the fix (the command then
prints it once: nothing is logged for it).

Without this the pool's background workers would each log the same refusal, again at every retry,
for the whole start-up timeout (six to eight times a process, then a generic "couldn't get a
connection")."""

from __future__ import annotations

import logging
import re
import time

import psycopg

from stateway.store.contract import StoreUnavailable

log = logging.getLogger("stateway.store.postgres")

_FIXES = (
    (re.compile(r'role "([^"]+)" does not exist'),
     'PostgreSQL has no role "{0}". Create it (as a superuser: createuser --login {0}, or in psql: CREATE ROLE "{0}" '
     'LOGIN;) or put an existing role in the store URL (postgresql://ROLE@HOST:PORT/DATABASE)'),
    (re.compile(r'database "([^"]+)" does not exist'),
     'PostgreSQL has no database "{0}". Create it (createdb {0}, or in psql: CREATE DATABASE "{0}";) or name an '
     'existing one in the store URL'),
    (re.compile(r'password authentication failed for user "([^"]+)"'),
     'PostgreSQL refused the password of "{0}": check the password in the store URL (postgresql://{0}:PASSWORD@…) '
     'or in PGPASSWORD / ~/.pgpass'),
    (re.compile(r'no pg_hba\.conf entry for host "([^"]+)", user "([^"]+)"'),
     'PostgreSQL does not let "{1}" connect from {0}: add a line for it to pg_hba.conf and reload the server'),
)


def refusal(exc: BaseException) -> str | None:
    """The explanation and fix when ``exc`` is a refusal that retrying cannot cure; else None."""
    text = str(exc)
    for pattern, fix in _FIXES:
        match = pattern.search(text)
        if match:
            return fix.format(*match.groups())
    return None


def wait_until_reachable(url: str, connect_timeout: float, startup_timeout: float) -> None:
    """Returns once a connection succeeds. Raises ``StoreUnavailable`` at once for a refusal (its message is
    the fix), or after ``startup_timeout`` for a server that does not answer."""
    deadline = time.monotonic() + startup_timeout
    delay = 0.2
    while True:
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=max(1, int(connect_timeout))):
                return
        except psycopg.OperationalError as exc:
            fix = refusal(exc)
            if fix is not None:
                raise StoreUnavailable(fix) from None
            if time.monotonic() + delay > deadline:
                raise StoreUnavailable(f"PostgreSQL is unavailable: {exc}") from exc
            log.warning("waiting for PostgreSQL (%s); retrying in %.1fs", str(exc).strip().splitlines()[-1], delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
