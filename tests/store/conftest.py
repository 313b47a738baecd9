from __future__ import annotations

import pytest


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path):
    """Each contract test runs once per implementation."""
    from stateway.store import open_store

    if request.param == "sqlite":
        target = str(tmp_path / "contract.db")
    else:
        target = request.getfixturevalue("pg_url")
    opened = open_store(target)
    yield opened
    opened.close()
