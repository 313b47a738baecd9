"""A PostgreSQL that refuses this client for good (no such role or database) is said once, with the fix,
and at once: no retries, no pool warnings (issue 20 §6)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from stateway.store._pg_connect import refusal


@pytest.mark.parametrize("what, url_of", [
    ('no role "nobody"', lambda c: f"postgresql://nobody@127.0.0.1:{c.port}/postgres"),
    ('no database "missing"', lambda c: f"postgresql://postgres@127.0.0.1:{c.port}/missing"),
])
def test_a_refusal_is_printed_once_with_the_fix(pg_cluster, what, url_of):
    url = url_of(pg_cluster)
    for command in (["queue", "list", "--store", url], ["serve", "--store", url, "--port", "0"]):
        out = subprocess.run([sys.executable, "-m", "stateway.cli", *command], capture_output=True, text=True,
                             timeout=120)
        text = out.stdout + out.stderr
        assert out.returncode != 0, text
        assert text.count(what) == 1, text
        assert "Create it" in text and "error connecting" not in text and "waiting for PostgreSQL" not in text


def test_refusals_name_their_fix():
    assert "createuser --login bob" in refusal(Exception('FATAL:  role "bob" does not exist'))
    assert "createdb shop" in refusal(Exception('FATAL:  database "shop" does not exist'))
    assert "PASSWORD" in refusal(Exception('FATAL:  password authentication failed for user "bob"'))
    assert "pg_hba.conf" in refusal(Exception('FATAL:  no pg_hba.conf entry for host "10.0.0.1", user "bob", '
                                              'database "x", no encryption'))
    assert refusal(Exception("connection refused")) is None
