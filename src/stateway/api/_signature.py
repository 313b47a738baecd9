"""RPC v1 (HMAC-SHA1) signatures as the official SDKs make them (api.md §4.1)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from urllib.parse import quote

DEV_CREDENTIALS = {"test": "test"}
SKEW_SECONDS = 900


def pct(text: str) -> str:
    return quote(text, safe="~", encoding="utf-8")


def rpc_v1_signature(method: str, params: Mapping[str, str], secret: str) -> str:
    canon = "&".join(f"{pct(k)}={pct(v)}" for k, v in sorted(params.items()))
    string_to_sign = f"{method.upper()}&%2F&{pct(canon)}"
    mac = hmac.new((secret + "&").encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(mac).decode()


def sign_rpc_v1(method: str, action: str, params: Mapping[str, str], access_key_id: str, secret: str
                ) -> dict[str, str]:
    """The full query (with Signature) for a request; used by Stateway's own CLI client."""
    query = {
        "Action": action, "Format": "json", "Version": "2019-03-15",
        "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "SignatureNonce": secrets.token_hex(16), "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0",
        "AccessKeyId": access_key_id, **params,
    }
    query["Signature"] = rpc_v1_signature(method, query, secret)
    return query


class SignatureRefused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        self.status = status
        self.code = code
        self.message = message
        super().__init__(message)


class SignatureChecker:
    def __init__(self, credentials: Mapping[str, str]) -> None:
        self.credentials = dict(credentials)
        self._nonces: dict[str, float] = {}

    def check(self, method: str, query: Mapping[str, str], form: Mapping[str, str]) -> str:
        params = {**query, **form}
        signature = params.pop("Signature", None)
        key_id = params.get("AccessKeyId")
        if signature is None or key_id is None:
            raise SignatureRefused(400, "MissingParameter", "the request is not signed (Signature and AccessKeyId)")
        secret = self.credentials.get(key_id)
        if secret is None:
            raise SignatureRefused(403, "InvalidAccessKeyID", f"the AccessKeyId {key_id!r} is not known")
        if params.get("SignatureMethod") != "HMAC-SHA1" or params.get("SignatureVersion") != "1.0":
            raise SignatureRefused(400, "InvalidParameter", "SignatureMethod must be HMAC-SHA1, version 1.0")
        stamp = params.get("Timestamp", "")
        try:
            when = time.mktime(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
        except ValueError:
            raise SignatureRefused(400, "InvalidTimeStamp.Format", f"Timestamp {stamp!r} is not "
                                   "YYYY-MM-DDThh:mm:ssZ") from None
        now = time.time()
        if abs(now - when) > SKEW_SECONDS:
            raise SignatureRefused(403, "RequestTimeTooSkewed", f"The difference between the request time {stamp} "
                                   f"and the current time is too large.")
        expected = rpc_v1_signature(method, params, secret)
        if not hmac.compare_digest(expected, signature):
            raise SignatureRefused(403, "SignatureNotMatch", "The request signature does not conform to "
                                   "Aliyun standards.")
        nonce = params.get("SignatureNonce", "")
        self._nonces = {n: t for n, t in self._nonces.items() if now - t < 2 * SKEW_SECONDS}
        if nonce in self._nonces:
            raise SignatureRefused(400, "SignatureNonceUsed", f"The request signature nonce {nonce!r} has been used.")
        self._nonces[nonce] = now
        return key_id
