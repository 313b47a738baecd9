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
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("stateway.api")

HEADER_TIMEOUT = 10.0  # seconds from a request's first byte to the end of its headers
BODY_TIMEOUT = 60.0  # seconds from the end of the headers to the end of the body (1 MiB at 17 KB/s)
IDLE_TIMEOUT = 600.0  # seconds between requests (the MNS SDK breaks on idle closes: mns.md §7)
PER_CLIENT = 256  # connections of one client address (0: no cap); 200 long polls fit


@dataclass
class ConnectionLimits:
    header_timeout: float = HEADER_TIMEOUT
    body_timeout: float = BODY_TIMEOUT
    idle_timeout: float = IDLE_TIMEOUT
    per_client: int = PER_CLIENT
    # client address → its connections, oldest first
    clients: dict[str, OrderedDict[int, GuardedH11Protocol]] = field(default_factory=dict)
    closed_slow: int = 0  # connections closed for slow headers, or evicted at the cap
    refused: int = 0


class GuardedH11Protocol(H11Protocol):
    limits: ConnectionLimits  # set on the subclass ``protocol_class`` makes, one per server

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._address = ""

    # -- the cap per address -------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
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
        super().connection_lost(exc)

    def _between_requests(self) -> bool:
        """Sending headers, or idle: nothing of ours is under way."""
        return self.conn.their_state is h11.IDLE and (self.cycle is None or self.cycle.response_complete)

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
        if self.conn.their_state is h11.IDLE:
            self.limits.closed_slow += 1
            log.debug("closing a connection from %s: its request headers took over %.0f s", self._address,
                      self.limits.header_timeout)
            self._close()

    def _body_too_slow(self) -> None:
        self._body_timer = None
        if self.conn.their_state is h11.SEND_BODY:
            self.limits.closed_slow += 1
            log.debug("closing a connection from %s: its request body took over %.0f s", self._address,
                      self.limits.body_timeout)
            self._close()

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE:
            self._arm_header_timer()  # the first byte of a request (after an idle keep-alive wait)
        super().data_received(data)
        state = self.conn.their_state
        if state is not h11.IDLE and self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        if state is h11.SEND_BODY:
            if self._body_timer is None and self.limits.body_timeout > 0:
                self._body_timer = self.loop.call_later(self.limits.body_timeout, self._body_too_slow)
        elif self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None


def protocol_class(limits: ConnectionLimits) -> type[GuardedH11Protocol]:
    """An h11 protocol class for one server, bound to its limits."""
    return type("StatewayH11Protocol", (GuardedH11Protocol,), {"limits": limits})


def uvicorn_options(limits: ConnectionLimits | None = None) -> dict[str, Any]:
    """What ``uvicorn.Config``/``uvicorn.run`` take to serve Stateway with these limits."""
    limits = limits or ConnectionLimits()
    return {"http": protocol_class(limits), "timeout_keep_alive": limits.idle_timeout}
