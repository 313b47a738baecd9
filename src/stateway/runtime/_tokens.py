"""Task tokens: opaque, naming one attempt of one task, signed with the server's secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass


class InvalidTaskToken(ValueError):
    code = "InvalidArgument"


@dataclass(frozen=True)
class TaskRef:
    flow: str
    execution_id: int
    execution_name: str
    task_id: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    PREFIX = "sw1"

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode(), hashlib.sha256).digest())

    def mint(self, ref: TaskRef) -> str:
        payload = _b64(json.dumps([ref.flow, ref.execution_id, ref.execution_name, ref.task_id],
                                  separators=(",", ":")).encode())
        return f"{self.PREFIX}.{payload}.{self._sign(payload)}"

    def verify(self, token: str) -> TaskRef:
        if not isinstance(token, str):
            raise InvalidTaskToken("the task token is not text")
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != self.PREFIX:
            raise InvalidTaskToken("the task token does not verify: it is not a Stateway task token")
        if not hmac.compare_digest(self._sign(parts[1]), parts[2]):
            raise InvalidTaskToken("the task token does not verify: its signature is wrong")
        try:
            flow, execution_id, name, task_id = json.loads(_unb64(parts[1]))
        except (ValueError, TypeError) as exc:
            raise InvalidTaskToken(f"the task token does not verify: {exc}") from None
        return TaskRef(flow, int(execution_id), name, str(task_id))
