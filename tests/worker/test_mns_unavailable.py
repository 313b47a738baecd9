"""The MNS API at shutdown and on internal errors: MNS's XML error, 503 ServiceUnavailable, so the SDK
raises its own error type; a long poll in progress ends at once."""

from __future__ import annotations

import signal
import threading
import time

import httpx
import pytest
from mns.account import Account
from mns.mns_exception import MNSExceptionBase, MNSServerException
from mns.queue import QueueMeta

from tests.test_serve_cli import start_server

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_a_long_poll_at_shutdown_ends_at_once_with_service_unavailable(tmp_path):
    proc, endpoint = start_server(tmp_path)
    outcome: dict = {}
    try:
        queue = Account(f"http://{endpoint}", "test", "test").get_queue("jobs")
        queue.create(QueueMeta())

        def poll() -> None:
            began = time.monotonic()
            try:
                queue.receive_message(wait_seconds=30)
                outcome["error"] = None
            except MNSExceptionBase as exc:
                outcome["error"] = exc
            outcome["seconds"] = time.monotonic() - began

        thread = threading.Thread(target=poll)
        thread.start()
        time.sleep(1.0)  # the poll is waiting
        proc.send_signal(signal.SIGTERM)
        thread.join(timeout=60)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    error = outcome["error"]
    assert isinstance(error, MNSServerException) and error.type == "ServiceUnavailable", error
    assert outcome["seconds"] < 20  # not the poll's 30 s: it ended when the stop began


def test_an_internal_error_answers_mns_xml_503(server, monkeypatch):
    from stateway.app import Queues

    def broken(self, *args, **kwargs):
        raise RuntimeError("the store went away")

    monkeypatch.setattr(Queues, "get", broken)
    queue = Account(f"http://{server.endpoint}", "testAK", "testSecret").get_queue("jobs")
    with pytest.raises(MNSServerException) as info:
        queue.get_attributes()
    assert info.value.type == "ServiceUnavailable"
    raw = httpx.get(f"http://{server.endpoint}/queues/jobs")  # unsigned: refused in MNS's format too
    assert raw.headers["content-type"].startswith("text/xml") and "<Code>" in raw.text
