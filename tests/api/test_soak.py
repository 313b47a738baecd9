"""Load: many executions at once, each handing its token through the queue to MNS SDK workers
that report back; none may be lost or completed twice."""

from __future__ import annotations

import json
import threading
import time

import pytest
from alibabacloud_fnf20190315 import models as m
from mns.account import Account
from mns.mns_exception import MNSServerException

from tests.api.fixtures import KEY_ID, SECRET

FLOW = """Type: StateMachine
SpecVersion: v1
StartAt: Work
States:
  - Type: Map
    Name: Work
    ItemsPath: $Input.parts
    MaxConcurrency: 2
    Processor:
      StartAt: Ask
      States:
        - Type: Task
          Name: Ask
          Action: MNS:SendMessage
          TaskMode: WaitForCustomCallback
          Timeout: 120
          Parameters:
            resourceArn: acs:mns:::/queues/soak/messages
            message: {token.$: $Context.Current.TaskToken, part.$: $Input.part}
          End: true
    OutputConstructor:
      total.$: $Output.Items[0].double + $Output.Items[1].double + $Output.Items[2].double
    End: true
"""
EXECUTIONS = 150


@pytest.mark.slow
def test_many_executions_through_queue_workers(server, fnf):
    fnf.create_flow(m.CreateFlowRequest(name="soak", definition=FLOW, description="", type="FDL"))
    reported = []
    stop = threading.Event()

    def worker() -> None:
        queue = Account(f"http://{server.endpoint}", KEY_ID, SECRET).get_queue("soak")
        queue.set_encoding(False)
        from alibabacloud_fnf20190315.client import Client
        from alibabacloud_tea_openapi import utils_models as om

        client = Client(om.Config(access_key_id=KEY_ID, access_key_secret=SECRET, endpoint=server.endpoint,
                                  protocol="http"))
        while not stop.is_set():
            try:
                message = queue.receive_message(wait_seconds=1)
            except MNSServerException:
                continue
            body = json.loads(message.message_body)
            client.report_task_succeeded(m.ReportTaskSucceededRequest(
                task_token=body["token"], output=json.dumps({"double": body["part"] * 2})))
            queue.delete_message(message.receipt_handle)
            reported.append(body["token"])

    workers = [threading.Thread(target=worker, daemon=True) for _ in range(3)]
    for w in workers:
        w.start()
    try:
        for i in range(EXECUTIONS):
            fnf.start_execution(m.StartExecutionRequest(
                flow_name="soak", execution_name=f"s{i}",
                input=json.dumps({"parts": [{"part": i}, {"part": 1}, {"part": 2}]})))
        deadline = time.monotonic() + 120
        store = server.runtime.store
        while store.count_executions("soak", "Succeeded") < EXECUTIONS:
            assert time.monotonic() < deadline, f"{store.count_executions('soak', 'Succeeded')} succeeded"
            assert store.count_executions("soak", "Failed") == 0
            time.sleep(0.2)
    finally:
        stop.set()
        for w in workers:
            w.join(timeout=5)
    assert len(reported) == len(set(reported)) == EXECUTIONS * 3
    outputs = {r.name: r.output for r in server.runtime.store.list_executions(flow_name="soak")}
    assert all(outputs[f"s{i}"] == {"total": 2 * i + 6} for i in range(EXECUTIONS))
