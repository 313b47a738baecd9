"""Console sessions in the store (store.contract.SessionStore), on SQLite and on PostgreSQL: what
one node ends, every node sees ended."""

from __future__ import annotations


def test_sessions_open_expire_end_and_end_by_key(store):
    store.open_session("h1", "ak", 2000.0, 1000.0)
    store.open_session("h2", "ak", 2000.0, 1000.0)
    store.open_session("h3", "other", 2000.0, 1000.0)
    assert store.session_key("h1", 1500.0) == "ak"
    assert store.session_key("h1", 2000.5) is None, "an expired session"
    assert store.session_key("nope", 1500.0) is None
    store.end_session("h1")
    assert store.session_key("h1", 1500.0) is None
    assert store.end_sessions_of(["ak", "gone"]) == 1
    assert store.session_key("h2", 1500.0) is None and store.session_key("h3", 1500.0) == "other"
    assert store.end_sessions_of([]) == 0
