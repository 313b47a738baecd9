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
    return bytes((tag,)) + _varint(len(data)) + data


def _value(value: Any) -> bytes:
    """An AnyValue message."""
    if isinstance(value, bool):
        return b"\x10" + (b"\x01" if value else b"\x00")
    if isinstance(value, int):
        return b"\x18" + _varint(value & 0xFFFFFFFFFFFFFFFF)
    if isinstance(value, float):
        return b"\x21" + struct.pack("<d", value)
    return _field(0x0A, str(value).encode())


_KIND_INTERNAL = b"\x30\x01"  # Span.kind = SPAN_KIND_INTERNAL


def _attribute(key: str, value: Any) -> bytes:
    """A Span.attributes entry (field 9): KeyValue{key, value}."""
    return _field(0x4A, _field(0x0A, key.encode()) + _field(0x12, _value(value)))


def _span(r: SpanRecord) -> bytes:
    """One Span message, written field by field (opentelemetry/proto/trace/v1/trace.proto)."""
    parts = [b"\x0a\x10", r.trace_id.to_bytes(16, "big"), b"\x12\x08", r.span_id.to_bytes(8, "big")]
    if r.parent_id is not None:
        parts += (b"\x22\x08", r.parent_id.to_bytes(8, "big"))
    parts += (_field(0x2A, r.name.encode()), _KIND_INTERNAL,
              b"\x39", struct.pack("<Q", int(r.start * 1e9)), b"\x41", struct.pack("<Q", int(max(r.end, r.start) * 1e9)))
    parts += [_attribute(k, v) for k, v in r.attributes.items()]
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
