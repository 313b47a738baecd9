"""The built-in queue over HTTP, compatible with the MNS queue API (mns.md), under ``/queues``."""

from __future__ import annotations

import hashlib
import logging
import secrets
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stateway.api._body import read_body
from stateway.api._signature import ProtocolError, SignatureChecker
from stateway.app import Stateway
from stateway.app.errors import MessageNotExists, QueueAlreadyExists, QueueNotExists, ReceiptHandleError
from stateway.app.queues import ATTRIBUTE_RANGES, QUEUE_NAME, InvalidQueueName, Message, Queues, bounded_int
from stateway.policies import UNRESTRICTED, AccessDenied, Keyring, Policy
from stateway.runtime import InvalidArgument

log = logging.getLogger("stateway.api")

NS = "http://mns.aliyuncs.com/doc/v1/"
# a batch of 16 messages of 64 KiB each, as XML, with room for escaping
MAX_BODY = 2 * 1024 * 1024


class MnsError(ProtocolError):
    pass


def _request_id() -> str:
    return secrets.token_hex(12).upper()


def _headers(request_id: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"x-mns-request-id": request_id, "x-mns-version": "2015-06-06", **(extra or {})}


def _xml(root: str, body: str, status: int, request_id: str, extra: dict[str, str] | None = None) -> Response:
    text = f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{NS}">{body}</{root}>'
    return Response(text, status_code=status, media_type="text/xml;charset=utf-8",
                    headers=_headers(request_id, extra))


def _elements(pairs: list[tuple[str, Any]]) -> str:
    return "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in pairs)


def _user_properties(properties: dict[str, str]) -> str:
    """MNS's ``<UserProperties>`` of a received message (docs/reference/mns.md), all STRING."""
    if not properties:
        return ""
    return "<UserProperties>" + "".join(
        f"<PropertyValue>{_elements([('Name', k), ('Value', v), ('Type', 'STRING')])}</PropertyValue>"
        for k, v in properties.items()) + "</UserProperties>"


def _error(exc: ProtocolError, request_id: str) -> Response:
    return _xml("Error", _elements([("Code", exc.code), ("Message", exc.message), ("RequestId", request_id),
                                    ("HostId", "stateway")]), exc.status, request_id)


def mns_error(status: int, code: str, message: str) -> Response:
    return _error(MnsError(status, code, message), _request_id())


@dataclass
class _Receive:
    """A receive, parsed on a thread, run (and maybe waiting) on the event loop."""

    queue: str
    count: int
    wait_seconds: int | None
    batch: bool


# the app's errors as MNS names them, with MNS's fixed messages
MNS_ERRORS: dict[type[Exception], tuple[int, str, str | None]] = {
    QueueNotExists: (404, "QueueNotExist", "The queue name you provided is not exist."),
    QueueAlreadyExists: (409, "QueueAlreadyExist", "The queue you want to create is already exist."),
    MessageNotExists: (404, "MessageNotExist", "Message not exist."),
    ReceiptHandleError: (400, "ReceiptHandleError", "The receipt handle you provide is not valid."),
    InvalidQueueName: (400, "InvalidQueueName", None),
    InvalidArgument: (400, "InvalidArgument", None),
}


def _mns(exc: Exception) -> MnsError:
    for kind, (status, code, message) in MNS_ERRORS.items():
        if isinstance(exc, kind):
            return MnsError(status, code, message or str(exc))
    raise exc


def _parse(body: bytes) -> ET.Element:
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        raise MnsError(400, "MalformedXML", "The XML you provided was not well-formed.") from None
    for element in root.iter():
        element.tag = element.tag.split("}", 1)[-1]
    return root


def _int(value: str | None, name: str, low: int, high: int, unit: str = "seconds") -> int:
    try:
        return bounded_int(value, name, low, high, unit)
    except InvalidArgument as exc:
        raise MnsError(400, "InvalidArgument", str(exc)) from None


def _query(request: Request) -> dict[str, str]:
    # the SDK pastes receipt handles in unencoded: a '+' is a '+', not a space
    try:
        text = request.scope["query_string"].decode()
    except UnicodeDecodeError:
        raise MnsError(400, "InvalidArgument", "The query string is not valid UTF-8.") from None
    pairs = [p.split("=", 1) for p in text.split("&") if p]
    return {k.lower(): (v[0] if v else "") for k, *v in pairs}



class QueueApi:
    """The MNS wire format over ``app.queues``: parse the request, call the service, write the XML."""

    def __init__(self, app: Stateway | Queues, checker: SignatureChecker, keyring: Keyring | None = None) -> None:
        self.queues: Queues = app.queues if isinstance(app, Stateway) else app
        self.checker = checker
        self.keyring = keyring if keyring is not None else Keyring.of(checker.credentials)
        self.closing = False  # the server is stopping: receives answer 503 at once

    def shutting_down(self) -> None:
        """The server stops: long polls end now, with MNS's ServiceUnavailable (a client retries it)."""
        self.closing = True
        self.queues.waiters.wake_queues(None)

    @property
    def recheck_seconds(self) -> float:
        return self.queues.recheck_seconds

    @recheck_seconds.setter
    def recheck_seconds(self, seconds: float) -> None:
        self.queues.recheck_seconds = seconds

    def routes(self) -> list[Route]:
        return [Route("/queues/queues/{rest:path}", self.misdirected,
                      methods=["GET", "PUT", "POST", "DELETE"]),
                Route("/queues", self.handle, methods=["GET"]),
                Route("/queues/{queue}", self.handle, methods=["GET", "PUT", "DELETE"]),
                Route("/queues/{queue}/messages", self.handle, methods=["GET", "PUT", "POST", "DELETE"])]

    async def misdirected(self, request: Request) -> Response:
        """A client given ``http://host:port/queues`` as its endpoint: say what the endpoint is."""
        base = f"{request.url.scheme}://{request.url.netloc}"
        return _error(MnsError(400, "InvalidEndpoint", f"The MNS endpoint is {base}, without /queues: the SDK adds "
                               "/queues/<name> itself."), _request_id())

    async def handle(self, request: Request) -> Response:
        request_id = _request_id()
        try:
            body = await read_body(request, MAX_BODY, lambda m: MnsError(400, "InvalidArgument", m))
            outcome = await run_in_threadpool(self._handle, request, body, request_id)
            if isinstance(outcome, _Receive):
                return await self._receive(outcome, request_id)
            return outcome
        except ProtocolError as exc:
            return _error(exc, request_id)
        except AccessDenied as exc:
            return _error(MnsError(403, exc.code, str(exc)), request_id)
        except Exception as exc:  # never an unparseable error: the SDK needs <Error>
            try:
                return _error(_mns(exc), request_id)
            except Exception:
                # the store gone away, the server stopping: MNS's answer to retry later, not a crash
                log.warning("MNS request %s failed: %s", request_id, exc)
                return _error(_unavailable(), request_id)

    def _handle(self, request: Request, body: bytes, request_id: str) -> Response | _Receive:
        target = request.scope["raw_path"].decode("latin-1")
        if request.scope["query_string"]:
            target += "?" + request.scope["query_string"].decode("latin-1")
        headers = {k.lower(): v for k, v in request.headers.items()}
        key_id = self.checker.check_mns(request.method, target, headers, body)
        policy = self.keyring.policy(key_id)
        queue = request.path_params.get("queue")
        if queue is None:
            policy.check("mns:ListQueue", key_id=key_id)
            return self.list_queues(request, headers, request_id, policy)
        if not QUEUE_NAME.fullmatch(queue):
            raise MnsError(400, "InvalidQueueName", f"The queue name {queue[:128]!r} is not valid.")
        query = _query(request)
        if not policy.unrestricted:
            policy.check(f"mns:{operation(request.method, request.url.path, query, body)}", queue=queue,
                         key_id=key_id)
        if not request.url.path.endswith("/messages"):
            return self.queue_operation(request.method, queue, query, body, request, request_id)
        self.queues.get(queue)
        if request.method == "POST":
            return self.send(queue, body, request_id)
        if request.method == "GET":
            return self.receive(queue, query, request_id)
        if request.method == "DELETE":
            return self.delete(queue, query, body, request_id)
        return self.change_visibility(queue, query, request_id)

    # -- queues -----------------------------------------------------------------------------------
    def _attributes(self, body: bytes) -> dict[str, Any]:
        if not body:
            return {}
        attributes: dict[str, Any] = {}
        for element in _parse(body):
            if element.tag in ATTRIBUTE_RANGES:
                low, high = ATTRIBUTE_RANGES[element.tag]
                attributes[element.tag] = _int(element.text, element.tag, low, high,
                                               "bytes" if element.tag == "MaximumMessageSize" else "seconds")
            elif element.tag == "LoggingEnabled":
                attributes["LoggingEnabled"] = (element.text or "").lower() == "true"
        return attributes

    def queue_operation(self, method: str, queue: str, query: dict[str, str], body: bytes, request: Request,
                        request_id: str) -> Response:
        location = {"Location": f"{request.url.scheme}://{request.url.netloc}/queues/{queue}"}
        if method == "PUT":
            attributes = self._attributes(body)
            if query.get("metaoverride", "").lower() == "true":
                self.queues.set_attributes(queue, attributes)
                return Response(status_code=204, headers=_headers(request_id))
            created = self.queues.create(queue, attributes)
            return Response(status_code=201 if created else 204, headers=_headers(request_id, location))
        if method == "DELETE":
            self.queues.delete(queue)
            return Response(status_code=204, headers=_headers(request_id))
        info = self.queues.get(queue)
        a = info["attributes"]
        return _xml("Queue", _elements([
            ("QueueName", queue), ("CreateTime", int(info["created"])), ("LastModifyTime", int(info["modified"])),
            ("DelaySeconds", a["DelaySeconds"]), ("MaximumMessageSize", a["MaximumMessageSize"]),
            ("MessageRetentionPeriod", a["MessageRetentionPeriod"]), ("VisibilityTimeout", a["VisibilityTimeout"]),
            ("PollingWaitSeconds", a["PollingWaitSeconds"]), ("ActiveMessages", info["active"]),
            ("InactiveMessages", info["inactive"]), ("DelayMessages", info["delayed"]),
            ("LoggingEnabled", "True" if a.get("LoggingEnabled") else "False")]), 200, request_id)

    def list_queues(self, request: Request, headers: dict[str, str], request_id: str,
                    policy: Policy = UNRESTRICTED) -> Response:
        prefix = headers.get("x-mns-prefix", "")
        limit = _int(headers.get("x-mns-ret-number", "1000"), "x-mns-ret-number", 1, 1000, "")
        names = [q["name"] for q in self.queues.list(prefix, headers.get("x-mns-marker", ""))
                 if policy.sees_queue(q["name"])]
        base = f"{request.url.scheme}://{request.url.netloc}/queues/"
        body = "".join(f"<Queue><QueueURL>{escape(base + n)}</QueueURL></Queue>" for n in names[:limit])
        if len(names) > limit:
            body += f"<NextMarker>{escape(names[limit])}</NextMarker>"
        return _xml("Queues", body, 200, request_id)

    # -- messages ---------------------------------------------------------------------------------
    def _send_one(self, queue: str, element: ET.Element) -> dict[str, str]:
        body_el = element.find("MessageBody")
        text = body_el.text if body_el is not None and body_el.text is not None else ""
        delay_el, priority_el = element.find("DelaySeconds"), element.find("Priority")
        delay = _int(delay_el.text, "DelaySeconds", 0, 604800) if delay_el is not None else None
        priority = _int(priority_el.text, "Priority", 1, 16, "") if priority_el is not None else 8
        try:
            sent = self.queues.send(queue, text, priority=priority, delay=delay)
        except InvalidArgument as exc:
            raise _mns(exc) from None
        return {"MessageId": sent.id, "MessageBodyMD5": _md5(text)}

    def send(self, queue: str, body: bytes, request_id: str) -> Response:
        root = _parse(body)
        if root.tag == "Message":
            sent = self._send_one(queue, root)
            return _xml("Message", _elements(list(sent.items())), 201, request_id)
        items = root.findall("Message")
        if not 1 <= len(items) <= 16:
            raise MnsError(400, "InvalidArgument", "A batch holds 1 to 16 messages.")
        results, failed = [], None
        for item in items:
            try:
                results.append(_elements(list(self._send_one(queue, item).items())))
            except MnsError as exc:
                failed = failed or exc
                results.append(_elements([("ErrorCode", exc.code), ("ErrorMessage", exc.message)]))
        body_text = "".join(f"<Message>{r}</Message>" for r in results)
        return _xml("Messages", body_text, 500 if failed else 201, request_id)

    def receive(self, queue: str, query: dict[str, str], request_id: str) -> Response | _Receive:
        batch = "numofmessages" in query
        count = _int(query["numofmessages"], "numOfMessages", 1, 16, "") if batch else 1
        if query.get("peekonly", "").lower() == "true":
            found = self.queues.peek(queue, count)
            if not found:
                raise MnsError(404, "MessageNotExist", "Message not exist.")
            return self._messages([self._message(m, peek=True) for m in found], batch, request_id)
        wait = _int(query["waitseconds"], "waitseconds", 0, 30) if "waitseconds" in query else None
        return _Receive(queue, count, wait, batch)

    async def _receive(self, pending: _Receive, request_id: str) -> Response:
        """The long poll runs in the service, on the event loop: it holds no thread while asleep."""
        if self.closing:
            raise _unavailable()
        found = await self.queues.receive_async(pending.queue, pending.count, wait_seconds=pending.wait_seconds,
                                                 closing=lambda: self.closing)
        if not found and self.closing:
            raise _unavailable()
        if not found:
            raise MnsError(404, "MessageNotExist", "Message not exist.")
        return self._messages([self._message(m, peek=False) for m in found], pending.batch, request_id)

    @staticmethod
    def _messages(items: list[str], batch: bool, request_id: str) -> Response:
        if batch:
            return _xml("Messages", "".join(f"<Message>{i}</Message>" for i in items), 200, request_id)
        return _xml("Message", items[0], 200, request_id)

    @staticmethod
    def _message(m: Message, peek: bool) -> str:
        pairs: list[tuple[str, Any]] = [("MessageId", m.id)]
        if not peek:
            pairs.append(("ReceiptHandle", m.receipt_handle))
        pairs += [("MessageBodyMD5", _md5(m.body)), ("MessageBody", m.body), ("EnqueueTime", int(m.enqueued * 1000))]
        if not peek:
            pairs.append(("NextVisibleTime", int((m.next_visible or 0) * 1000)))
        pairs += [("FirstDequeueTime", int(m.first_dequeued * 1000)), ("DequeueCount", m.dequeue_count),
                  ("Priority", m.priority)]
        return _elements(pairs) + _user_properties(m.properties)

    def _delete_one(self, queue: str, handle: str) -> None:
        try:
            self.queues.delete_message(queue, handle)
        except (ReceiptHandleError, MessageNotExists) as exc:
            raise _mns(exc) from None

    def delete(self, queue: str, query: dict[str, str], body: bytes, request_id: str) -> Response:
        if "receipthandle" in query:
            self._delete_one(queue, query["receipthandle"])
            return Response(status_code=204, headers=_headers(request_id))
        if not body:
            raise MnsError(400, "MissingReceiptHandle", "ReceiptHandle is required.")
        errors = []
        for element in _parse(body).findall("ReceiptHandle"):
            handle = element.text or ""
            try:
                self._delete_one(queue, handle)
            except MnsError as exc:
                errors.append(_elements([("ErrorCode", exc.code), ("ErrorMessage", exc.message),
                                         ("ReceiptHandle", handle)]))
        if errors:
            return _xml("Errors", "".join(f"<Error>{e}</Error>" for e in errors), 404, request_id)
        return Response(status_code=204, headers=_headers(request_id))

    def change_visibility(self, queue: str, query: dict[str, str], request_id: str) -> Response:
        handle = query.get("receipthandle")
        if not handle:
            raise MnsError(400, "MissingReceiptHandle", "ReceiptHandle is required.")
        if "visibilitytimeout" not in query:
            raise MnsError(400, "MissingVisibilityTimeout", "VisibilityTimeout is required.")
        seconds = _int(query["visibilitytimeout"], "VisibilityTimeout", 0, 43200)
        new_handle, visible_at = self.queues.change_visibility(queue, handle, seconds)
        return _xml("ChangeVisibility", _elements([("ReceiptHandle", new_handle),
                                                   ("NextVisibleTime", int(visible_at * 1000))]), 200, request_id)


def operation(method: str, path: str, query: dict[str, str], body: bytes) -> str:
    """The MNS operation a request on a queue is, by MNS's own name for it (its RAM action)."""
    if not path.endswith("/messages"):
        if method == "PUT":
            return "SetQueueAttributes" if query.get("metaoverride", "").lower() == "true" else "CreateQueue"
        return {"DELETE": "DeleteQueue"}.get(method, "GetQueueAttributes")
    if method == "POST":
        return "BatchSendMessage" if _parse(body).tag == "Messages" else "SendMessage"
    if method == "GET":
        verb = "PeekMessage" if query.get("peekonly", "").lower() == "true" else "ReceiveMessage"
        return f"Batch{verb}" if "numofmessages" in query else verb
    if method == "DELETE":
        return "DeleteMessage" if "receipthandle" in query else "BatchDeleteMessage"
    return "ChangeMessageVisibility"
def _unavailable() -> MnsError:
    return MnsError(503, "ServiceUnavailable", "The service is unavailable (stopping or restarting); try again.")


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest().upper()
