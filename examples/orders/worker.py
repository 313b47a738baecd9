"""A queue-driven worker: takes fraud-check messages from Stateway's queue, does the work, and
reports the result to the task token the message carries."""

from __future__ import annotations

import argparse
import json
import time

from stateway.client import ApiCallError, RpcClient
from stateway.store import SQLiteStore


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True, help="the database of the Stateway that owns the queue")
    parser.add_argument("--endpoint", required=True, help="host:port of that Stateway")
    parser.add_argument("--queue", default="fraud-checks")
    parser.add_argument("--max-seconds", type=float, default=120)
    args = parser.parse_args()
    client = RpcClient(args.endpoint)
    store = None
    deadline = time.monotonic() + args.max_seconds
    while time.monotonic() < deadline:
        try:
            store = store or SQLiteStore(args.db)
            messages = store.receive_messages(args.queue, time.time(), 1, 30)
        except Exception:
            messages = []
        if not messages:
            time.sleep(0.1)
            continue
        message = messages[0]
        body = json.loads(message["body"])
        risk = "low" if body["total"] < 10_000 else "high"
        try:
            client.call("ReportTaskSucceeded", TaskToken=body["taskToken"], Output=json.dumps({"risk": risk}))
            print(f"worker: order {body['orderId']} scored {risk}, reported to its task token", flush=True)
        except ApiCallError as exc:
            print(f"worker: report refused: {exc}", flush=True)
        store.delete_message(args.queue, message["receipt_handle"])


if __name__ == "__main__":
    main()
