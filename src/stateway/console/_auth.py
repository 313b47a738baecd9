"""Console sessions: a signed cookie naming an access key and a server-side session.

The cookie holds ``key id, expiry, session id`` and an HMAC over them keyed by the server's secret
and a hash of the access key's secret. The session itself lives in the store (a hash of its id),
so signing out ends it on every node, and so does expiry; a key removed from the configuration
(or given a new secret) fails the HMAC at once and its rows are deleted on reload. The CSRF token
is an HMAC of the session id, so it is fixed for a session and useless without the cookie.
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
from typing import Protocol

from stateway.policies import Keyring

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


class SessionRows(Protocol):
    """What sessions need of the store (``store.contract.SessionStore``)."""

    def open_session(self, session_id: str, key_id: str, expires: float, now: float) -> None: ...
    def session_key(self, session_id: str, now: float) -> str | None: ...
    def end_session(self, session_id: str) -> None: ...
    def end_sessions_of(self, key_ids: list[str]) -> int: ...


def _row_id(session_id: str) -> str:
    return hashlib.sha256(b"stateway-session:" + session_id.encode()).hexdigest()


class Sessions:
    def __init__(self, server_secret: bytes, credentials: Mapping[str, str], seconds: int = SESSION_SECONDS,
                 store: SessionRows | None = None) -> None:
        self._key = hmac.new(server_secret, b"stateway-console-session", hashlib.sha256).digest()
        self.credentials = credentials  # the live mapping: what is removed from it stops working
        self.seconds = seconds
        self.store = store  # None: cookies alone (signing out forgets the cookie, nothing more)
        if store is not None and isinstance(credentials, Keyring):
            credentials.listeners.append(self.keys_removed)

    def keys_removed(self, key_ids: set[str]) -> None:
        if self.store is not None and key_ids:
            self.store.end_sessions_of(sorted(key_ids))

    def end(self, session: Session) -> None:
        """Sign out: the session's cookie is refused from now on, here and on every other node."""
        if self.store is not None:
            self.store.end_session(_row_id(session.nonce))

    def _mac(self, payload: str, key_secret: str) -> str:
        bound = hashlib.sha256(key_secret.encode()).digest()
        return _b64(hmac.new(self._key, bound + payload.encode(), hashlib.sha256).digest())

    def check_login(self, key_id: str, secret: str) -> bool:
        expected = self.credentials.get(key_id)
        return expected is not None and hmac.compare_digest(expected.encode(), secret.encode())

    def issue(self, key_id: str, now: float | None = None) -> str:
        now = now or time.time()
        expires = int(now + self.seconds)
        session_id = secrets.token_urlsafe(24)
        if self.store is not None:
            self.store.open_session(_row_id(session_id), key_id, expires, now)
        payload = _b64(json.dumps([key_id, expires, session_id]).encode())
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
        now = now or time.time()
        if not isinstance(expires, int) or expires < now:
            return None
        if self.store is not None and self.store.session_key(_row_id(str(nonce)), now) != key_id:
            return None  # signed out, swept, or never opened here
        return Session(key_id, float(expires), str(nonce), self.csrf_for(str(nonce)))

    def csrf_for(self, nonce: str) -> str:
        return _b64(hmac.new(self._key, b"csrf:" + nonce.encode(), hashlib.sha256).digest())[:32]
