"""OTLP over HTTP for span records: the official exporter's transport, a direct encoding.

The SDK's path (a ReadableSpan per span, then its generic encoder) costs several times the engine's
own work on a small execution; spans made from history need none of what it handles (live spans,
context, processors), so they are written straight in OTLP's protobuf wire format (a few fixed
fields; the tests decode it with opentelemetry-proto) and handed to
``OTLPSpanExporter``'s HTTP client (its retries, compression and headers). Where that client is not
there (another exporter version), the records go through the SDK's own path instead.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

from stateway.telemetry._spans import SpanRecord

log = logging.getLogger("stateway.telemetry")


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(tag: int, data: bytes) -> bytes:
    """A length-delimited field (``tag`` is the key byte: field number << 3 | 2)."""
    n = len(data)
    if n < 0x80:
        return bytes((tag, n)) + data
    return bytes((tag,)) + _varint(n) + data


def _value(value: Any) -> bytes:
    """An AnyValue message."""
    if isinstance(value, bool):
        return b"\x10" + (b"\x01" if value else b"\x00")
    if isinstance(value, int):
        return b"\x18" + _varint(value & 0xFFFFFFFFFFFFFFFF)
    if isinstance(value, float):
        return b"\x21" + struct.pack("<d", value)
    return _field(0x0A, str(value).encode())


_LOW = (1 << 64) - 1
_IDS = struct.Struct(">BBQQBBQ")  # trace_id (field 1, 16 bytes), span_id (field 2, 8 bytes)
_PARENT = struct.Struct(">BBQ")  # parent_span_id (field 4)
_TIMES = struct.Struct("<BBBQBQ")  # kind (6) = INTERNAL, start (7) and end (8) time as fixed64


def _attribute(key: str, value: Any) -> bytes:
    """A Span.attributes entry (field 9): KeyValue{key, value}."""
    return _field(0x4A, _field(0x0A, key.encode()) + _field(0x12, _value(value)))


def _span(r: SpanRecord) -> bytes:
    """One Span message, written field by field (opentelemetry/proto/trace/v1/trace.proto)."""
    parts = [_IDS.pack(0x0A, 16, r.trace_id >> 64, r.trace_id & _LOW, 0x12, 8, r.span_id)]
    if r.parent_id is not None:
        parts.append(_PARENT.pack(0x22, 8, r.parent_id))
    parts.append(_field(0x2A, r.name.encode()))
    parts.append(_TIMES.pack(0x30, 1, 0x39, int(r.start * 1e9), 0x41, int(max(r.end, r.start) * 1e9)))
    for k, v in r.attributes.items():
        parts.append(_attribute(k, v))
    for trace_id, span_id in r.links:  # Span.links (field 13): Link{trace_id, span_id}
        parts.append(_field(0x6A, b"\x0a\x10" + trace_id.to_bytes(16, "big") + b"\x12\x08" + span_id.to_bytes(8, "big")))
    if r.error:  # Span.status (field 15): Status{message (2), code (3) = ERROR}
        parts.append(_field(0x7A, _field(0x12, r.error.encode()) + b"\x18\x02"))
    return _field(0x12, b"".join(parts))  # ScopeSpans.spans is field 2


def encode(records: Sequence[SpanRecord], service_name: str) -> bytes:
    """An ExportTraceServiceRequest of ``records``: one resource, one scope."""
    resource = _field(0x0A, _field(0x0A, _field(0x0A, b"service.name") + _field(0x12, _value(service_name))))
    scope = _field(0x0A, _field(0x0A, b"stateway"))
    scope_spans = _field(0x12, scope + b"".join(_span(r) for r in records))
    return _field(0x0A, resource + scope_spans)


class RecordExporter(OTLPSpanExporter):
    """``OTLPSpanExporter`` that also takes span records (``export_records``)."""

    def __init__(self, *args: Any, service_name: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.service_name = service_name
        self.readable: Callable[[SpanRecord], Any] | None = None  # set by the Tracing that uses it

    def export_records(self, records: Sequence[SpanRecord]) -> bool:
        client = getattr(self, "_client", None)
        if client is None or not hasattr(client, "export") or self.readable is None:
            assert self.readable is not None, "a RecordExporter is used by a Tracing"
            return self.export([self._readable(r) for r in records]).name == "SUCCESS"
        result = client.export(encode(records, self.service_name))
        ok = bool(getattr(result, "success", True))
        if not ok:
            log.debug("spans not exported: %s", getattr(result, "error", result))
        return ok
