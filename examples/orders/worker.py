"""The demo's queue worker, with the stateway.worker library: it takes fraud-check messages from the
built-in queue (MNS), scores the order, and the library reports the result to the task token the
message carries, acknowledges the message, retries through restarts and stops cleanly on SIGTERM.
(README, "Write a queue worker", shows the same without the library, with the official SDKs.)"""

from __future__ import annotations

import argparse
import logging
import sys
import threading

from stateway.worker import Worker


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True, help="host:port of the Stateway")
    parser.add_argument("--queue", default="fraud-checks")
    parser.add_argument("--max-seconds", type=float, default=120)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    worker = Worker(args.endpoint, poll_seconds=2, shutdown_seconds=5)

    @worker.task(f"mns://{args.queue}")
    def score(task):
        order = task.message
        risk = "low" if order["total"] < 10_000 else "high"
        print(f"worker: order {order['orderId']} scored {risk}", flush=True)
        return {"risk": risk}

    stopper = threading.Timer(args.max_seconds, worker.stop)
    stopper.daemon = True
    stopper.start()
    worker.run()


if __name__ == "__main__":
    main()
