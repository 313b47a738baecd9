"""The queue over HTTP with the official aliyun-mns-sdk, and a consumer that reports a flow's token."""

from __future__ import annotations

import json
import time

import pytest
from alibabacloud_fnf20190315 import models as m
from mns.account import Account
from mns.mns_exception import MNSServerException
from mns.queue import Message, QueueMeta

from tests.api.fixtures import KEY_ID, SECRET
from tests.api.test_sdk_flows import WAITS, create

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def account(server):
    return Account(f"http://{server.endpoint}", KEY_ID, SECRET)


def test_queue_operations(account):
    queue = account.get_queue("jobs")
    meta = QueueMeta()
    meta.set_visibilitytimeout(30)
    meta.set_polling_wait_seconds(0)
    assert queue.create(meta).endswith("/queues/jobs")
    queue.create(meta)  # same attributes: fine
    other = QueueMeta()
    other.set_visibilitytimeout(99)
    with pytest.raises(MNSServerException) as info:
        queue.create(other)
    assert info.value.type == "QueueAlreadyExist"
    queue.send_message(Message("low", priority=9))
    queue.send_message(Message("high <&> 世界", priority=1))
    assert queue.get_attributes().active_messages == 2
    first = queue.receive_message(wait_seconds=1)
    assert first.message_body == "high <&> 世界".encode()  # base64 round trip, byte for byte
    assert first.dequeue_count == 1 and first.priority == 1
    changed = queue.change_message_visibility(first.receipt_handle, 0)
    with pytest.raises(MNSServerException) as info:
        queue.delete_message(first.receipt_handle)  # superseded by the change
    assert info.value.type == "MessageNotExist"
    again = queue.receive_message(wait_seconds=1)
    assert again.message_id == first.message_id and again.dequeue_count == 2
    queue.delete_message(again.receipt_handle)
    assert changed.receipt_handle != first.receipt_handle
    with pytest.raises(MNSServerException) as info:
        queue.delete_message("not-a-handle")
    assert info.value.type == "ReceiptHandleError"
    rest = queue.batch_receive_message(16, wait_seconds=1)
    assert [r.priority for r in rest] == [9]
    queue.batch_delete_message([r.receipt_handle for r in rest])
    began = time.monotonic()
    with pytest.raises(MNSServerException) as info:
        queue.receive_message(wait_seconds=1)
    assert info.value.type == "MessageNotExist" and time.monotonic() - began >= 0.9
    with pytest.raises(MNSServerException) as info:
        queue.receive_message(wait_seconds=31)
    assert info.value.type == "InvalidArgument"
    queues = account.list_queue()[0]
    assert any(url.endswith("/queues/jobs") for url in queues)
    with pytest.raises(MNSServerException) as info:
        account.get_queue("missing").send_message(Message("x"))
    assert info.value.type == "QueueNotExist"


def test_long_poll_wakes_when_a_message_arrives(account, server):
    import threading

    queue = account.get_queue("wake")
    queue.create(QueueMeta())
    sender = Account(f"http://{server.endpoint}", KEY_ID, SECRET).get_queue("wake")  # its own connection
    threading.Timer(0.5, lambda: sender.send_message(Message("late"))).start()
    began = time.monotonic()
    message = queue.receive_message(wait_seconds=20)
    # woken by the message, before the 20 s poll ends (not a speed bound)
    assert message.message_body == b"late" and time.monotonic() - began < 15


def test_wrong_secret_is_refused(server):
    queue = Account(f"http://{server.endpoint}", KEY_ID, "wrong").get_queue("jobs")
    with pytest.raises(MNSServerException) as info:
        queue.create(QueueMeta())
    assert info.value.type == "SignatureDoesNotMatch"


def test_consumer_receives_a_flows_message_and_reports_its_token(fnf, account):
    """The seed pattern end to end: a flow sends its token through the queue; an MNS SDK consumer
    takes it and reports back with the fnf SDK."""
    create(fnf, "waits", WAITS)
    fnf.start_execution(m.StartExecutionRequest(flow_name="waits", execution_name="q1", input='{"n": 5}'))
    queue = account.get_queue("asks")
    queue.set_encoding(False)  # the flow sends plain JSON text
    deadline = time.monotonic() + 10
    message = None
    while message is None:
        assert time.monotonic() < deadline
        try:
            message = queue.receive_message(wait_seconds=1)
        except MNSServerException as exc:
            assert exc.type in ("MessageNotExist", "QueueNotExist")
            time.sleep(0.05)
    body = json.loads(message.message_body)
    fnf.report_task_succeeded(m.ReportTaskSucceededRequest(task_token=body["token"],
                                                           output=json.dumps({"doubled": body["n"] * 2})))
    queue.delete_message(message.receipt_handle)
    done = fnf.describe_execution(m.DescribeExecutionRequest(flow_name="waits", execution_name="q1",
                                                             wait_time_seconds=5)).body
    assert json.loads(done.output) == {"doubled": 10}
