"""Connection guards for the HTTP server (uvicorn's h11 protocol, subclassed): a deadline for a
request's headers, and a cap on the connections of one client address.

uvicorn bounds the idle time between requests (``timeout_keep_alive``) but not the time a client
takes to send its headers: 300 connections trickling a header byte every 5 s would hold 300
descriptors for ever. Here a request's headers must be complete within ``header_timeout`` seconds
of its first byte (of the connection's opening, for the first request), and its body within
``body_timeout`` seconds of its headers, or the connection is closed. And one address holds at
most ``per_client`` connections: a new one beyond the cap closes that address's oldest connection
that is not in the middle of a request (trickling headers, or idle), so a well-behaved client is
served even next to a slow one from the same address; when all of them are busy with requests, the
new connection is refused.

The same guard sits on uvicorn's httptools protocol (a C parser) when httptools is installed (it is
a dependency; h11 stays the fallback): its parser callbacks say where a request is, where h11's
state machine says it for the h11 protocol.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools is not installed: h11 serves, guarded the same way
    HttpToolsProtocol = None  # type: ignore[assignment,misc]

log = logging.getLogger("stateway.api")

HEADER_TIMEOUT = 10.0  # seconds from a request's first byte to the end of its headers
BODY_TIMEOUT = 60.0  # seconds from the end of the headers to the end of the body (1 MiB at 17 KB/s)
IDLE_TIMEOUT = 600.0  # seconds between requests (the MNS SDK breaks on idle closes: mns.md §7)
PER_CLIENT = 256  # connections of one client address (0: no cap); 200 long polls fit
HOLD_BYTES = 4096  # a write this small (a response's head) waits for the next one to leave with it


@dataclass
class ConnectionLimits:
    header_timeout: float = HEADER_TIMEOUT
    body_timeout: float = BODY_TIMEOUT
    idle_timeout: float = IDLE_TIMEOUT
    per_client: int = PER_CLIENT
    # client address → its connections, oldest first
    clients: dict[str, OrderedDict[int, Any]] = field(default_factory=dict)
    closed_slow: int = 0  # connections closed for slow headers, or evicted at the cap
    refused: int = 0


class _Coalescing:
    """A transport that holds back one small write until the next write or the next turn of the event
    loop: a response's head and its body (two writes by uvicorn) leave as one send, one system call
    and one segment, not two. Never more than that one write is held, so a streamed body leaves as
    it is written and flow control sees it."""

    __slots__ = ("_transport", "_loop", "_held")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + data)
        elif len(data) <= HOLD_BYTES:
            self._held = bytes(data)
            self._loop.call_soon(self._flush)
        else:
            self._transport.write(data)

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def _flush(self) -> None:
        held, self._held = self._held, None
        if held is not None and not self._transport.is_closing():
            self._transport.write(held)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + len(self._held or b"")

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _Guard:
    """What both guarded protocols share: the cap per address and the two deadlines. A subclass says
    where its request is (``_receiving_headers``, ``_receiving_body``)."""

    limits: ConnectionLimits  # set on the subclass ``protocol_class`` makes, one per server
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    client: tuple[str, int] | None
    cycle: Any

    def _guard_init(self) -> None:
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._address = ""

    def _receiving_headers(self) -> bool:  # no request under way, or one whose headers are not all in
        raise NotImplementedError

    def _receiving_body(self) -> bool:
        raise NotImplementedError

    # -- the cap per address -------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # type: ignore[misc]
        self.transport = _Coalescing(transport, self.loop)  # type: ignore[assignment]
        self._address = str(self.client[0]) if self.client else ""
        limits = self.limits
        mine = limits.clients.setdefault(self._address, OrderedDict())
        if limits.per_client and len(mine) >= limits.per_client:
            victim = next((p for p in mine.values() if p._between_requests()), None)
            if victim is None:
                limits.refused += 1
                transport.close()
                return
            limits.closed_slow += 1
            victim._close()
        mine[id(self)] = self
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        mine = self.limits.clients.get(self._address)
        if mine is not None:
            mine.pop(id(self), None)
            if not mine:
                self.limits.clients.pop(self._address, None)
        super().connection_lost(exc)  # type: ignore[misc]

    def _between_requests(self) -> bool:
        """Sending headers, or idle: nothing of ours is under way."""
        return self._receiving_headers() and (self.cycle is None or self.cycle.response_complete)

    def _close(self) -> None:
        self._disarm_header_timer()
        mine = self.limits.clients.get(self._address)
        if mine is not None:
            mine.pop(id(self), None)
        if not self.transport.is_closing():
            self.transport.close()

    # -- the header deadline ---------------------------------------------------------------------------
    def _arm_header_timer(self) -> None:
        if self._header_timer is None and self.limits.header_timeout > 0:
            self._header_timer = self.loop.call_later(self.limits.header_timeout, self._headers_too_slow)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self._receiving_headers():
            self.limits.closed_slow += 1
            log.debug("closing a connection from %s: its request headers took over %.0f s", self._address,
                      self.limits.header_timeout)
            self._close()

    def _body_too_slow(self) -> None:
        self._body_timer = None
        if self._receiving_body():
            self.limits.closed_slow += 1
            log.debug("closing a connection from %s: its request body took over %.0f s", self._address,
                      self.limits.body_timeout)
            self._close()

    def data_received(self, data: bytes) -> None:
        if self._receiving_headers():
            self._arm_header_timer()  # the first byte of a request (after an idle keep-alive wait)
        super().data_received(data)  # type: ignore[misc]
        if not self._receiving_headers() and self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        if self._receiving_body():
            if self._body_timer is None and self.limits.body_timeout > 0:
                self._body_timer = self.loop.call_later(self.limits.body_timeout, self._body_too_slow)
        elif self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None


class GuardedH11Protocol(_Guard, H11Protocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._guard_init()

    def _receiving_headers(self) -> bool:
        return self.conn.their_state is h11.IDLE

    def _receiving_body(self) -> bool:
        return self.conn.their_state is h11.SEND_BODY


# where a request is on the httptools protocol, told by its parser's callbacks
_IDLE, _HEADERS, _BODY, _DONE = 0, 1, 2, 3

if HttpToolsProtocol is not None:
    class GuardedHttpToolsProtocol(_Guard, HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._guard_init()
            self._phase = _IDLE

        def _receiving_headers(self) -> bool:
            return self._phase <= _HEADERS

        def _receiving_body(self) -> bool:
            return self._phase == _BODY

        def on_message_begin(self) -> None:
            self._phase = _HEADERS
            super().on_message_begin()

        def on_headers_complete(self) -> None:
            self._phase = _BODY
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            answered = self.cycle is not None and self.cycle.response_complete  # refused before its end
            self._phase = _IDLE if answered else _DONE
            super().on_message_complete()

        def on_response_complete(self) -> None:
            if self._phase == _DONE:  # a pipelined request already begun keeps its phase
                self._phase = _IDLE
            super().on_response_complete()


def protocol_class(limits: ConnectionLimits, parser: str = "auto") -> type[Any]:
    """An HTTP protocol class for one server, bound to its limits: httptools' when it is installed
    (``parser="auto"``), else (or with ``parser="h11"``) h11's."""
    base: type[Any] = GuardedH11Protocol
    if parser != "h11" and HttpToolsProtocol is not None:
        base = GuardedHttpToolsProtocol
    return type("StatewayHttpProtocol", (base,), {"limits": limits})


def uvicorn_options(limits: ConnectionLimits | None = None, parser: str = "auto") -> dict[str, Any]:
    """What ``uvicorn.Config``/``uvicorn.run`` take to serve Stateway with these limits."""
    limits = limits or ConnectionLimits()
    return {"http": protocol_class(limits, parser), "timeout_keep_alive": limits.idle_timeout}
