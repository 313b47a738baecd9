"""A queue worker written only against the official SDKs, as it would be against CloudFlow and MNS:
it takes fraud-check messages with the MNS SDK, does the work, and reports the result to the task
token the message carries with the CloudFlow SDK. Only the endpoints say it runs on Stateway."""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings

from alibabacloud_fnf20190315 import models as fnf_models
from alibabacloud_fnf20190315.client import Client
from alibabacloud_tea_openapi import utils_models as open_api

warnings.filterwarnings("ignore", category=DeprecationWarning)  # the MNS SDK still uses old APIs

from mns.account import Account  # noqa: E402
from mns.mns_exception import MNSExceptionBase  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True, help="host:port of the Stateway (no path, no /queues)")
    parser.add_argument("--queue", default="fraud-checks")
    parser.add_argument("--max-seconds", type=float, default=120)
    args = parser.parse_args()
    key_id = os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_ID", "test")
    secret = os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "test")

    # MNS: the endpoint is scheme://host:port only; the SDK adds /queues/<name> itself
    queue = Account(f"http://{args.endpoint}", key_id, secret).get_queue(args.queue)
    # MNS:SendMessage tasks send their message text as it is, not base64 (CloudFlow does the same):
    # without this the SDK tries to base64-decode it and fails with "Incorrect padding"
    queue.set_encoding(False)
    flows = Client(open_api.Config(access_key_id=key_id, access_key_secret=secret, endpoint=args.endpoint,
                                   protocol="http"))

    deadline = time.monotonic() + args.max_seconds
    while time.monotonic() < deadline:
        try:
            message = queue.receive_message(wait_seconds=5)
        except MNSExceptionBase as exc:
            # MessageNotExist: nothing within the wait; QueueNotExist: no task has sent yet (the queue
            # is created by the first MNS:SendMessage); NetWorkException, RespDataDamaged: the server
            # is not up yet, or going away
            if exc.type not in ("MessageNotExist", "QueueNotExist", "NetWorkException", "RespDataDamaged"):
                print(f"worker: receive failed: {exc.type}: {exc.message}", flush=True)
            if exc.type != "MessageNotExist":
                time.sleep(0.2)
            continue
        body = json.loads(message.message_body)
        risk = "low" if body["total"] < 10_000 else "high"
        try:
            flows.report_task_succeeded(fnf_models.ReportTaskSucceededRequest(
                task_token=body["taskToken"], output=json.dumps({"risk": risk})))
            print(f"worker: order {body['orderId']} scored {risk}, reported to its task token", flush=True)
        except Exception as exc:  # e.g. TaskAlreadyCompleted after a redelivery: the message is done either way
            print(f"worker: report refused: {exc}", flush=True)
        queue.delete_message(message.receipt_handle)


if __name__ == "__main__":
    main()
