"""Session-wide real brokers (started once: RabbitMQ takes up to a minute) and a factory for a
broker of a test's own, which it may stop and start again."""

from __future__ import annotations

import pytest

from tests.brokers.servers import SERVERS, missing


def _session_server(kind: str, tmp_path_factory: pytest.TempPathFactory):
    why = missing(kind)
    if why is not None:
        pytest.skip(why)
    server = SERVERS[kind](tmp_path_factory.mktemp(kind)).start()
    yield server
    server.close()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    yield from _session_server("redis", tmp_path_factory)


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory):
    yield from _session_server("nats", tmp_path_factory)


@pytest.fixture(scope="session")
def rabbitmq_server(tmp_path_factory):
    yield from _session_server("rabbitmq", tmp_path_factory)


@pytest.fixture
def own_server(tmp_path):
    """``own_server("redis")``: a broker for this test alone (it may stop, pause and restart it)."""
    started = []

    def make(kind: str):
        why = missing(kind)
        if why is not None:
            pytest.skip(why)
        server = SERVERS[kind](tmp_path / f"{kind}-{len(started)}").start()
        started.append(server)
        return server

    yield make
    for server in started:
        try:
            server.resume()
        except Exception:
            pass
        server.close()
