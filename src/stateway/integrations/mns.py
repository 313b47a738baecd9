"""MNS:SendMessage to the built-in durable queue."""

from __future__ import annotations

import hashlib
import json
import re

from stateway.integrations._arn import match_resource_arn
from stateway.runtime._outcomes import Completed, IntegrationError, Outcome, Submitted, TaskCall
from stateway.runtime._registry import Integration
from stateway.telemetry import traceparent_for

_ARN = re.compile(r"^acs:mns:[^:]*:[^:]*:/queues/(?P<queue>[^/]+)/messages$")


class SendMessage(Integration):
    action = "MNS:SendMessage"
    modes = frozenset({"RequestComplete", "WaitForCustomCallback"})
    parameters = frozenset({"resourceArn", "message", "MessageBody", "priority", "delaySeconds"})

    def message_id(self, call: TaskCall) -> str:
        return hashlib.md5(call.key.encode()).hexdigest().upper()

    def invoke(self, call: TaskCall) -> Outcome:
        params = call.parameters
        queue = match_resource_arn(_ARN, params, "queue",
                                   "acs:mns:{region}:{account}:/queues/{queue}/messages").group("queue")
        message = params.get("message", params.get("MessageBody"))
        if message is None:
            raise IntegrationError("FnF.InvalidArgument", "MNS:SendMessage needs a 'message' parameter")
        body = message if isinstance(message, str) else json.dumps(message, ensure_ascii=False)
        priority = params.get("priority", 8)
        delay = params.get("delaySeconds", 0)
        if not isinstance(priority, int) or not 1 <= priority <= 16:
            raise IntegrationError("FnF.InvalidArgument", f"priority must be 1 to 16, got {priority!r}")
        if not isinstance(delay, (int, float)) or not 0 <= delay <= 604800:
            raise IntegrationError("FnF.InvalidArgument", f"delaySeconds must be 0 to 604800, got {delay!r}")
        traceparent = traceparent_for(call.execution_id, call.task_id)  # a consumer continues the task's trace
        # not durable: lost to a database crash, the message is sent again under the same id from the
        # outbox row (deleted by a later, durable commit), and what acts on it commits durably after it
        sent = self.context.queues.send_message(queue, body, priority, float(delay), self.context.now(),
                                                message_id=self.message_id(call),
                                                properties={"traceparent": traceparent} if traceparent else None,
                                                durable=False)
        result = {"MessageId": sent["id"], "MessageBodyMD5": hashlib.md5(body.encode()).hexdigest().upper(),
                  "RequestId": call.key}
        self.context.notify_queue()
        if call.mode == "RequestComplete":
            return Completed(result)
        return Submitted(result)

    def cancel(self, call: TaskCall, reason: str) -> str:
        outcome = self.context.queues.withdraw_message(self.message_id(call))
        return {"withdrawn": "withdrew the unreceived message",
                "received": "the message had been received already; the task is closed",
                "gone": "the message was already deleted; the task is closed"}[outcome]
