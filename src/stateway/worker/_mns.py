"""``mns://QUEUE``: the built-in queue of the Stateway the worker reports to, over its MNS queue API.

The endpoint and keys are the worker's (``STATEWAY_ENDPOINT`` and the access key pair), or given in
the URI: ``mns://QUEUE?endpoint=host:port``. Dead letters go to the queue ``QUEUE-dead``. A message
received stays hidden while its handler runs: its visibility is extended before it runs out, so a
handler slower than the queue's VisibilityTimeout is not handed the same message twice.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import logging
import os
import threading
import time
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

import httpx

from stateway.api._signature import DEV_CREDENTIALS

log = logging.getLogger("stateway.worker")

NS = "http://mns.aliyuncs.com/doc/v1/"
MAX_BATCH = 16
KEEP_CHECK_SECONDS = 1.0


class MnsCallError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        self.status = status
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


def _parse(text: bytes) -> ET.Element:
    root = ET.fromstring(text)
    for element in root.iter():
        element.tag = element.tag.split("}", 1)[-1]
    return root


class MnsClient:
    """The few MNS calls a worker makes, signed like the official SDK signs them."""

    def __init__(self, endpoint: str, key_id: str, secret: str) -> None:
        self.base = endpoint.rstrip("/") if "://" in endpoint else f"http://{endpoint}"
        self.key_id = key_id
        self.secret = secret
        self._http = httpx.Client(timeout=httpx.Timeout(10.0, read=45.0))

    def request(self, method: str, target: str, body: str = "", timeout: float | None = None) -> httpx.Response:
        data = body.encode()
        date = email.utils.formatdate(usegmt=True)
        headers = {"Date": date, "x-mns-version": "2015-06-06", "Host": urlsplit(self.base).netloc}
        content_type = "text/xml;charset=utf-8" if data else ""
        md5 = ""
        if data:
            md5 = base64.b64encode(hashlib.md5(data).hexdigest().encode()).decode()
            headers.update({"Content-Type": content_type, "Content-MD5": md5})
        signed = f"{method}\n{md5}\n{content_type}\n{date}\nx-mns-version:2015-06-06\n{target}"
        signature = base64.b64encode(hmac.new(self.secret.encode(), signed.encode(), hashlib.sha1).digest()).decode()
        headers["Authorization"] = f"MNS {self.key_id}:{signature}"
        try:
            response = self._http.request(method, self.base + target, content=data or None, headers=headers,
                                          timeout=timeout)
        except httpx.HTTPError as exc:
            raise MnsCallError(0, "NetworkError", f"cannot reach {self.base}: {exc}") from None
        if response.status_code >= 400:
            code, message = "HTTP" + str(response.status_code), response.text[:200]
            try:
                root = _parse(response.content)
                code = root.findtext("Code") or code
                message = root.findtext("Message") or message
            except ET.ParseError:
                pass
            raise MnsCallError(response.status_code, code, message)
        return response

    def close(self) -> None:
        self._http.close()

    def ensure_queue(self, queue: str) -> None:
        try:
            self.request("PUT", f"/queues/{queue}", f'<?xml version="1.0" encoding="UTF-8"?><Queue xmlns="{NS}"/>')
        except MnsCallError as exc:
            if exc.code != "QueueAlreadyExist":
                raise

    def receive(self, queue: str, count: int, wait_seconds: int) -> list[dict[str, Any]]:
        target = f"/queues/{queue}/messages?numOfMessages={count}&waitseconds={wait_seconds}"
        try:
            response = self.request("GET", target, timeout=wait_seconds + 15.0)
        except MnsCallError as exc:
            if exc.code == "MessageNotExist":
                return []
            raise
        found = []
        for element in _parse(response.content).iter("Message"):
            raw: dict[str, Any] = {child.tag: child.text or "" for child in element if child.tag != "UserProperties"}
            raw["UserProperties"] = {p.findtext("Name") or "": p.findtext("Value") or ""
                                     for p in element.iter("PropertyValue")}
            found.append(raw)
        return found

    def delete(self, queue: str, handle: str) -> None:
        self.request("DELETE", f"/queues/{queue}/messages?ReceiptHandle={handle}")

    def change_visibility(self, queue: str, handle: str, seconds: int) -> str:
        response = self.request("PUT", f"/queues/{queue}/messages?receiptHandle={handle}&visibilityTimeout={seconds}")
        return _parse(response.content).findtext("ReceiptHandle") or handle

    def send(self, queue: str, body: str) -> None:
        self.request("POST", f"/queues/{queue}/messages", f'<?xml version="1.0" encoding="UTF-8"?><Message xmlns="{NS}">'
                     f"<MessageBody>{escape(body)}</MessageBody></Message>")


def _retrying(what: str, call: Any, attempts: int = 6) -> Any:
    """A queue call that a restarting server may refuse for a moment: tried again a few times."""
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except MnsCallError as exc:
            if not (exc.status == 0 or exc.status >= 500) or attempt == attempts:
                raise
            log.info("%s: %s; trying again", what, exc)
            time.sleep(min(5.0, 0.2 * 2 ** attempt))
    return None


class MnsDelivery:
    def __init__(self, source: MnsSource, raw: dict[str, Any]) -> None:
        self.source = source
        self.body = raw.get("MessageBody", "")
        self.attempt = int(raw.get("DequeueCount") or 1)
        self.message_id = raw.get("MessageId", "")
        self.traceparent = (raw.get("UserProperties") or {}).get("traceparent")  # its task attempt's trace
        self.handle = raw.get("ReceiptHandle", "")
        received = time.time()
        next_visible = int(raw.get("NextVisibleTime") or 0) / 1000
        self.visibility = max(1, round(next_visible - received)) if next_visible else 30
        self.visible_at = next_visible or received + self.visibility
        self.settled = False
        self.lock = threading.Lock()

    def _settle(self, what: str, call: Any) -> None:
        with self.lock:
            if self.settled:
                return
            try:
                _retrying(f"{what} of message {self.message_id}", lambda: call(self.handle))
            except MnsCallError as exc:
                if exc.code not in ("MessageNotExist", "ReceiptHandleError"):
                    raise
                # the handle lapsed (the worker was too slow): the message shows again and is handled again,
                # and its report then meets TaskAlreadyCompleted
                log.info("%s of message %s: its receipt handle lapsed", what, self.message_id)
            self.settled = True
        self.source.forget(self)

    def ack(self) -> None:
        self._settle("delete", lambda handle: self.source.client.delete(self.source.queue, handle))

    def nack(self) -> None:
        self._settle("release", lambda handle: self.source.client.change_visibility(self.source.queue, handle, 0))

    def dead_letter(self, reason: str) -> None:
        def move(handle: str) -> None:
            self.source.ensure_dead_queue()
            self.source.client.send(self.source.dead_letter_name, self.body)
            self.source.client.delete(self.source.queue, handle)

        with self.lock:
            if self.settled:
                return
            _retrying(f"dead-lettering message {self.message_id}", lambda: move(self.handle))
            self.settled = True
        self.source.forget(self)

    def keep(self, now: float) -> None:
        """Hide it for another VisibilityTimeout when half of the current one has passed."""
        with self.lock:
            if self.settled or self.visible_at - now > self.visibility / 2:
                return
            try:
                self.handle = self.source.client.change_visibility(self.source.queue, self.handle, self.visibility)
                self.visible_at = time.time() + self.visibility
            except MnsCallError as exc:
                log.info("could not extend message %s's visibility: %s", self.message_id, exc)


class MnsSource:
    def __init__(self, queue: str, client: MnsClient) -> None:
        self.queue = queue
        self.client = client
        self.dead_letter_name = f"{queue[:115]}-dead"
        self._dead_ready = False
        self._held: dict[int, MnsDelivery] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._keeper = threading.Thread(target=self._keep, name=f"mns-keep-{queue}", daemon=True)
        self._keeper.start()

    def ensure_dead_queue(self) -> None:
        if not self._dead_ready:
            self.client.ensure_queue(self.dead_letter_name)
            self._dead_ready = True

    def receive(self, max_messages: int, wait_seconds: float) -> list[MnsDelivery]:
        count = max(1, min(MAX_BATCH, max_messages))
        wait = max(0, min(30, int(wait_seconds)))
        try:
            raw = self.client.receive(self.queue, count, wait)
        except MnsCallError as exc:
            if exc.code != "QueueNotExist":
                raise
            # no task has sent yet (the first MNS:SendMessage makes the queue): make it and wait on it
            self.client.ensure_queue(self.queue)
            raw = self.client.receive(self.queue, count, wait)
        found = [MnsDelivery(self, m) for m in raw]
        with self._lock:
            self._held.update((id(d), d) for d in found)
        return found

    def forget(self, delivery: MnsDelivery) -> None:
        with self._lock:
            self._held.pop(id(delivery), None)

    def _keep(self) -> None:
        while not self._closed.wait(KEEP_CHECK_SECONDS):
            with self._lock:
                held = list(self._held.values())
            now = time.time()
            for delivery in held:
                delivery.keep(now)

    def close(self) -> None:
        self._closed.set()
        self.client.close()


def open(uri: str, *, endpoint: str | None = None, access_key_id: str | None = None,  # noqa: A001
         access_key_secret: str | None = None, **_options: Any) -> MnsSource:
    parts = urlsplit(uri)
    queue = (parts.netloc + parts.path).strip("/")
    if not queue or "/" in queue:
        raise ValueError(f"{uri!r}: an mns:// source names one queue, as mns://QUEUE")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    endpoint = query.get("endpoint") or endpoint or os.environ.get("STATEWAY_ENDPOINT") or "127.0.0.1:8765"
    default_id, default_secret = next(iter(DEV_CREDENTIALS.items()))
    key_id = access_key_id or os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_ID") or default_id
    secret = access_key_secret or os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET") or default_secret
    return MnsSource(queue, MnsClient(endpoint, key_id, secret))
