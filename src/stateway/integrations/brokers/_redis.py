"""Redis:SendMessage: XADD to a stream with redis-py's thread-safe connection pool. The entry holds
the message in its ``message`` field (the worker's Redis source reads it there), the ``fields``
given, and in WaitForCustomCallback ``taskToken``."""

from __future__ import annotations

from typing import Any

from stateway.integrations.brokers._base import BrokerIntegration, Unreachable, required_text, text_map
from stateway.runtime._outcomes import IntegrationError, TaskCall
from stateway.settings import BrokerSettings

BODY_FIELD = "message"


def _redis() -> Any:
    try:
        import redis
    except ImportError:  # pragma: no cover - the extra is not installed
        raise IntegrationError("Redis.Unavailable", "Redis:SendMessage needs redis-py: pip install "
                               "'stateway[redis]'") from None
    return redis


def redis_client(url: str, timeout: float, connections: int) -> Any:
    """A client whose every socket operation is bounded and that reconnects a dropped connection on
    its next use. It tries once more at once after a connection error (a pooled connection the
    server closed while idle), never after a timeout: further attempts are ours, bounded."""
    redis = _redis()
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
                                max_connections=max(connections, 2),
                                health_check_interval=30, decode_responses=True)


class RedisSendMessage(BrokerIntegration):
    action = "Redis:SendMessage"
    modes = frozenset({"RequestComplete", "WaitForCustomCallback"})
    parameters = frozenset({"stream", "message", "fields", "maxLen", "broker"})
    kind = "redis"
    prefix = "Redis"

    def new_client(self, broker: BrokerSettings) -> Any:
        return redis_client(broker.url, broker.timeout, broker.threads + 1)

    def publish(self, client: Any, call: TaskCall, body: str, timeout: float) -> dict[str, Any]:
        redis = _redis()
        stream = required_text(call, "stream")
        fields: dict[str, Any] = text_map(call, "fields")
        if BODY_FIELD in fields:
            raise IntegrationError("FnF.InvalidArgument", f"fields may not name {BODY_FIELD!r}: the message goes there")
        fields[BODY_FIELD] = body
        if call.mode == "WaitForCustomCallback":
            fields["taskToken"] = call.token
        max_len = call.parameters.get("maxLen")
        if max_len is not None and (isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 1):
            raise IntegrationError("FnF.InvalidArgument", f"maxLen must be a whole number above 0, got {max_len!r}")
        try:
            entry = client.xadd(stream, fields, maxlen=max_len, approximate=True)
        except redis.AuthenticationError as exc:
            raise IntegrationError("Redis.AccessRefused", str(exc)) from None
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise Unreachable(f"{type(exc).__name__}: {exc}") from None
        except redis.ResponseError as exc:
            if str(exc).startswith(("LOADING", "BUSY", "TRYAGAIN", "MASTERDOWN", "CLUSTERDOWN")):
                raise Unreachable(f"{exc}") from None
            raise IntegrationError("Redis.Error", str(exc)) from None
        return {"MessageId": entry, "Stream": stream}
