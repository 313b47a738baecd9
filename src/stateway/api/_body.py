"""Request bodies read within a limit, before any other work, and form/query text decoded strictly.

The limit is checked twice: against Content-Length before a byte is read (an honest 200 MB POST
is refused at once), and while streaming (a chunked or lying client is cut off at the limit).
Nothing is parsed, verified or stored before the body is known to be within the limit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import ClientDisconnect, Request

from stateway.api._values import invalid


def _check_declared(declared: str | None, limit: int, too_large: Callable[[str], Exception]) -> None:
    """A body refused by its Content-Length before a byte of it is read."""
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            raise invalid("Content-Length is not a number")
        if int(declared) > limit:
            raise too_large(f"the request body ({int(declared)} bytes) is over the limit of {limit} bytes")


async def read_body(request: Request, limit: int, too_large: Callable[[str], Exception]) -> bytes:
    _check_declared(request.headers.get("content-length"), limit, too_large)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(f"the request body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_asgi_body(declared: str | None, receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
                         limit: int, too_large: Callable[[str], Exception]) -> bytes:
    """``read_body`` on the ASGI interface itself (the RPC path, which skips Starlette's request object);
    ``declared``: the Content-Length header. ``ClientDisconnect`` when the client went away."""
    _check_declared(declared, limit, too_large)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise too_large(f"the request body is over the limit of {limit} bytes")
            chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def parse_form(raw: bytes | str, what: str) -> dict[str, str]:
    """``a=1&b=2`` into a dict; text that is not UTF-8, raw or percent-encoded, is a 400."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        return dict(parse_qsl(text, keep_blank_values=True, errors="strict"))
    except UnicodeDecodeError:
        raise invalid(f"{what} is not valid UTF-8") from None
