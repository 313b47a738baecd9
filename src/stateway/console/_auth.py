"""Console sessions: a signed cookie naming an access key, bound to that key's current secret.

The cookie holds ``key id, expiry, nonce`` and an HMAC over them keyed by the server's secret and
a hash of the access key's secret. Each request looks the key up in the live credentials: a key
removed from the config (or given a new secret) ends its sessions. The CSRF token is an HMAC of
the session's nonce, so it is fixed for a session and useless without the session cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass

COOKIE = "stateway_console"
LOGIN_COOKIE = "stateway_login"
SESSION_SECONDS = 8 * 3600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Session:
    key_id: str
    expires: float
    nonce: str
    csrf: str


class Sessions:
    def __init__(self, server_secret: bytes, credentials: Mapping[str, str], seconds: int = SESSION_SECONDS) -> None:
        self._key = hmac.new(server_secret, b"stateway-console-session", hashlib.sha256).digest()
        self.credentials = credentials  # the live mapping: what is removed from it stops working
        self.seconds = seconds

    def _mac(self, payload: str, key_secret: str) -> str:
        bound = hashlib.sha256(key_secret.encode()).digest()
        return _b64(hmac.new(self._key, bound + payload.encode(), hashlib.sha256).digest())

    def check_login(self, key_id: str, secret: str) -> bool:
        expected = self.credentials.get(key_id)
        return expected is not None and hmac.compare_digest(expected.encode(), secret.encode())

    def issue(self, key_id: str, now: float | None = None) -> str:
        expires = (now or time.time()) + self.seconds
        payload = _b64(json.dumps([key_id, int(expires), secrets.token_hex(12)]).encode())
        return f"{payload}.{self._mac(payload, self.credentials[key_id])}"

    def read(self, cookie: str | None, now: float | None = None) -> Session | None:
        if not cookie or cookie.count(".") != 1:
            return None
        payload, mac = cookie.split(".")
        try:
            key_id, expires, nonce = json.loads(_unb64(payload))
        except (ValueError, TypeError):
            return None
        secret = self.credentials.get(key_id) if isinstance(key_id, str) else None
        if secret is None or not hmac.compare_digest(self._mac(payload, secret), mac):
            return None
        if expires < (now or time.time()):
            return None
        return Session(key_id, float(expires), str(nonce), self.csrf_for(str(nonce)))

    def csrf_for(self, nonce: str) -> str:
        return _b64(hmac.new(self._key, b"csrf:" + nonce.encode(), hashlib.sha256).digest())[:32]
