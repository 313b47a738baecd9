"""The peer: moto's Step Functions interpreter (LocalStack's, as moto ships it), in process via boto3."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

ROLE = "arn:aws:iam::123456789012:role/bench"


@contextmanager
def stepfunctions() -> Iterator[Any]:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    import boto3
    from moto import mock_aws

    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield boto3.client("stepfunctions", region_name="us-east-1")


def create(sfn: Any, name: str, definition: dict[str, Any]) -> str:
    return str(sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)["stateMachineArn"])


def wait_all(sfn: Any, machine: str, timeout: float = 600) -> float:
    """Waits until no execution of ``machine`` runs; returns the moment (perf_counter) that was seen.
    One cheap list call per poll, so that waiting costs the peer as little as it costs Stateway."""
    deadline = time.monotonic() + timeout
    while sfn.list_executions(stateMachineArn=machine, statusFilter="RUNNING", maxResults=1)["executions"]:
        if time.monotonic() > deadline:
            raise TimeoutError("the peer did not finish")
        time.sleep(0.01)
    return time.perf_counter()


def statuses(sfn: Any, machine: str) -> list[str]:
    pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=machine)
    return [e["status"] for page in pages for e in page["executions"]]
