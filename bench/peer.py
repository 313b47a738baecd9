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


def wait_all(sfn: Any, executions: list[str], timeout: float = 600) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    done: dict[str, dict[str, Any]] = {}
    while len(done) < len(executions):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the peer finished {len(done)} of {len(executions)} executions")
        for arn in executions:
            if arn not in done:
                described = sfn.describe_execution(executionArn=arn)
                if described["status"] != "RUNNING":
                    done[arn] = described
        if len(done) < len(executions):
            time.sleep(0.05)  # polling less often leaves the interpreter's thread the GIL
    return [done[a] for a in executions]
