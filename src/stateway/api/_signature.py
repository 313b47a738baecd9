"""Request signatures: RPC v1 (HMAC-SHA1, what the fnf SDKs use), ACS3-HMAC-SHA256 (the generic
client), api.md §4; and MNS v1 for the queue API, mns.md §3."""

from __future__ import annotations

import base64
import calendar
import email.utils
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Protocol
from urllib.parse import quote

from stateway.store import NonceReplayed

DEV_CREDENTIALS = {"test": "test"}
SKEW_SECONDS = 900
NONCE_WINDOW = 2 * SKEW_SECONDS  # a request dated at +skew can still be replayed until now + 2 * skew
# ACS3: what a signature must cover, so no unsigned header can redirect a captured request
ACS3_SIGNED = frozenset({"host", "x-acs-action", "x-acs-version", "x-acs-date", "x-acs-signature-nonce",
                         "x-acs-content-sha256"})


class NonceStore(Protocol):
    def remember_nonce(self, nonce: str, now: float, window: float) -> bool: ...


class MemoryNonces:
    """Nonces in memory, expired in order of arrival (for a checker without a store)."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def remember_nonce(self, nonce: str, now: float, window: float) -> bool:
        with self._lock:
            while self._seen:  # insertion order is time order: drop the expired head
                oldest, seen = next(iter(self._seen.items()))
                if seen >= now - window:
                    break
                del self._seen[oldest]
            if nonce in self._seen:
                return False
            self._seen[nonce] = now
            return True


def _same(expected: str, given: str) -> bool:
    """Constant-time comparison that also takes text that is not ASCII (never equal, never an error)."""
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "surrogateescape"))


_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")


def pct(text: str) -> str:
    """RFC 3986 percent-encoding (what RPC v1 signs); most parameters (names, ids, nonces) need none,
    and a match is several times cheaper than ``quote``, which signing and checking run per parameter."""
    if _UNRESERVED.fullmatch(text):
        return text
    return quote(text, safe="~", encoding="utf-8")


def rpc_v1_signature(method: str, params: Mapping[str, str], secret: str) -> str:
    return _rpc_v1_sign(method, [(pct(k), pct(v)) for k, v in sorted(params.items())], secret)


def _rpc_v1_sign(method: str, encoded: list[tuple[str, str]], secret: str) -> str:
    """The signature of encoded pairs, in the order of their names (and values) before encoding."""
    canon = "&".join(f"{k}={v}" for k, v in encoded)
    # pct(canon), whose characters are unreserved ones, the escapes' "%" and the separators
    string_to_sign = f"{method.upper()}&%2F&{canon.replace('%', '%25').replace('&', '%26').replace('=', '%3D')}"
    mac = hmac.new((secret + "&").encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(mac).decode()


def _rpc_v1_query(action: str, params: Mapping[str, str], access_key_id: str) -> dict[str, str]:
    return {
        "Action": action, "Format": "json", "Version": "2019-03-15",
        "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "SignatureNonce": secrets.token_hex(16), "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0",
        "AccessKeyId": access_key_id, **params,
    }


def sign_rpc_v1(method: str, action: str, params: Mapping[str, str], access_key_id: str, secret: str
                ) -> dict[str, str]:
    """The full query (with Signature) for a request; used by Stateway's own CLI client."""
    query = _rpc_v1_query(action, params, access_key_id)
    query["Signature"] = rpc_v1_signature(method, query, secret)
    return query


def signed_rpc_v1_text(method: str, action: str, params: Mapping[str, str], access_key_id: str, secret: str
                       ) -> str:
    """``sign_rpc_v1``'s query, percent-encoded as a query string or form body: each pair encoded once,
    for the signature and the request both."""
    encoded = [(pct(k), pct(v)) for k, v in sorted(_rpc_v1_query(action, params, access_key_id).items())]
    signature = _rpc_v1_sign(method, encoded, secret)
    return "&".join(f"{k}={v}" for k, v in encoded) + "&Signature=" + pct(signature)


class ProtocolError(Exception):
    """A request refused with an HTTP status and the protocol's error code (CloudFlow's or MNS's)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status = status
        self.code = code
        self.message = message
        super().__init__(message)


class SignatureRefused(ProtocolError):
    pass


_ACS3 = re.compile(r"^ACS3-HMAC-SHA256\s+Credential=([^,]+),\s*SignedHeaders=([^,]*),\s*Signature=([0-9a-fA-F]+)$")
_BASE64 = re.compile(r"[A-Za-z0-9+/]{1,200}={0,2}")
_MNS = re.compile(r"^MNS (\S+):(\S+)$")


class SignatureChecker:
    def __init__(self, credentials: Mapping[str, str], nonces: NonceStore | None = None) -> None:
        for key_id, secret in credentials.items():
            if not key_id or not key_id.strip() or not secret:
                raise ValueError("an access key needs a non-empty id and secret")
        self.credentials = credentials  # live: a Keyring reloaded on SIGHUP takes effect at once
        self.nonces: NonceStore = nonces if nonces is not None else MemoryNonces()

    def _secret(self, key_id: str | None, code: str = "InvalidAccessKeyID") -> str:
        secret = self.credentials.get(key_id or "")
        if secret is None:
            raise SignatureRefused(403, code, f"the AccessKeyId {key_id!r} is not known")
        return secret

    @staticmethod
    def _check_fresh(stamp: str, field: str) -> None:
        """``stamp`` is an ISO 8601 UTC time within the allowed clock skew."""
        try:
            when = calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ"))
        except ValueError:
            raise SignatureRefused(400, "InvalidArgument", f"{field} {stamp!r} is not YYYY-MM-DDThh:mm:ssZ") from None
        if abs(time.time() - when) > SKEW_SECONDS:
            raise SignatureRefused(403, "RequestTimeTooSkewed", f"The difference between the request time {stamp} "
                                   "and the current time is too large.")

    @staticmethod
    def _nonce_key(key_id: str, nonce: str) -> str:
        """What the nonce store records: the nonce, per access key."""
        if not nonce:
            raise SignatureRefused(400, "MissingRequiredParams", "the request has no signature nonce")
        if len(nonce) > 128:
            raise SignatureRefused(400, "InvalidArgument", "the signature nonce is over 128 characters")
        return f"{key_id}\n{nonce}"

    @staticmethod
    def _replayed(recorded: str) -> SignatureRefused:
        nonce = recorded.split("\n", 1)[-1]
        return SignatureRefused(400, "SignatureNonceUsed", f"The request signature nonce {nonce!r} has been used.")

    def remember(self, recorded: str) -> None:
        """Record a nonce ``verify_rpc`` answered; ``SignatureNonceUsed`` for a replay."""
        if not self.nonces.remember_nonce(recorded, time.time(), NONCE_WINDOW):
            raise self._replayed(recorded)

    @contextmanager
    def remembered_with_write(self, recorded: str) -> Iterator[None]:
        """Record a nonce ``verify_rpc`` answered in the first write transaction of the block (the
        request's own: one transaction fewer), or at its end if it made none; ``SignatureNonceUsed`` for
        a replay, whose write is rolled back. A nonce store that cannot (memory): recorded first."""
        within = getattr(self.nonces, "nonce_in_next_write", None)
        if within is None:
            self.remember(recorded)
            yield
            return
        try:
            with within(recorded, time.time(), NONCE_WINDOW):
                yield
        except NonceReplayed:
            raise self._replayed(recorded) from None

    def check_rpc(self, method: str, query: Mapping[str, str], form: Mapping[str, str],
                  headers: Mapping[str, str], body: bytes) -> str:
        """The access key of a signed request, its nonce recorded (``SignatureNonceUsed`` for a replay)."""
        key_id, recorded = self.verify_rpc(method, query, form, headers, body)
        self.remember(recorded)
        return key_id

    def verify_rpc(self, method: str, query: Mapping[str, str], form: Mapping[str, str],
                   headers: Mapping[str, str], body: bytes) -> tuple[str, str]:
        """(access key, nonce to record) of a request whose signature holds; the nonce is not recorded
        yet (``remember``, ``remembered_with_write``)."""
        authorization = headers.get("authorization", "")
        if authorization.startswith("ACS3-HMAC-SHA256"):
            return self._check_acs3(method, query, headers, body, authorization)
        params = {**query, **form}
        signature = params.pop("Signature", None)
        key_id = params.get("AccessKeyId")
        if signature is None or key_id is None:
            raise SignatureRefused(400, "MissingRequiredParams", "the request is not signed (Signature, AccessKeyId)")
        if _BASE64.fullmatch(signature) is None:  # malformed, as opposed to wrong (403 below)
            raise SignatureRefused(400, "InvalidArgument", "Signature is not Base64 text")
        secret = self._secret(key_id)
        if params.get("SignatureMethod") != "HMAC-SHA1" or params.get("SignatureVersion") != "1.0":
            raise SignatureRefused(400, "InvalidArgument", "SignatureMethod must be HMAC-SHA1, version 1.0")
        self._check_fresh(params.get("Timestamp", ""), "Timestamp")
        expected = rpc_v1_signature(method, params, secret)
        if not _same(expected, signature):
            canon = "&".join(f"{pct(k)}={pct(v)}" for k, v in sorted(params.items()))
            raise SignatureRefused(403, "SignatureNotMatch", "The request signature we calculated does not match the "
                                   "signature you provided. Check your access key and signing method. Server string "
                                   f"to sign is:{method.upper()}&%2F&{pct(canon)}")
        return key_id, self._nonce_key(key_id, params.get("SignatureNonce", ""))

    def _check_acs3(self, method: str, query: Mapping[str, str], headers: Mapping[str, str], body: bytes,
                    authorization: str) -> tuple[str, str]:
        m = _ACS3.match(authorization.strip())
        if m is None:
            raise SignatureRefused(400, "InvalidArgument", "the Authorization header is not ACS3-HMAC-SHA256")
        key_id, signed, signature = m.group(1), m.group(2), m.group(3).lower()
        secret = self._secret(key_id)
        names = [n for n in signed.split(";") if n]
        missing = sorted(ACS3_SIGNED - set(names))
        if missing:
            raise SignatureRefused(400, "InvalidArgument", f"SignedHeaders must include {', '.join(missing)}")
        absent = sorted(n for n in ACS3_SIGNED if not headers.get(n))
        if absent:
            raise SignatureRefused(400, "MissingRequiredHeader", f"the signed header(s) {', '.join(absent)} are "
                                   "missing")
        self._check_fresh(headers.get("x-acs-date", ""), "x-acs-date")
        payload_hash = hashlib.sha256(body).hexdigest()
        if headers["x-acs-content-sha256"] != payload_hash:
            raise SignatureRefused(400, "InvalidArgument", "x-acs-content-sha256 does not match the body")
        canonical = "\n".join([
            method.upper(), "/", "&".join(f"{pct(k)}={pct(v)}" for k, v in sorted(query.items())),
            "".join(f"{n}:{headers.get(n, '').strip()}\n" for n in names), signed, payload_hash])
        string_to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
        expected = hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()
        if not _same(expected, signature):
            raise SignatureRefused(403, "SignatureNotMatch", "The request signature we calculated does not match the "
                                   "signature you provided.")
        return key_id, self._nonce_key(key_id, headers["x-acs-signature-nonce"])

    def check_mns(self, method: str, raw_target: str, headers: Mapping[str, str], body: bytes) -> str:
        authorization = headers.get("authorization")
        if not authorization:
            raise SignatureRefused(400, "MissingAuthorizationHeader", "Authorization header is required.")
        m = _MNS.match(authorization)
        if m is None:
            raise SignatureRefused(400, "InvalidAuthorizationHeader", "The Authorization header is not valid.")
        key_id, signature = m.group(1), m.group(2)
        date = headers.get("date")
        if not date:
            raise SignatureRefused(400, "MissingDateHeader", "Date header is required.")
        parsed = email.utils.parsedate_to_datetime(date) if _looks_like_date(date) else None
        if parsed is None:
            raise SignatureRefused(400, "InvalidDateHeader", "The Date header is not a valid RFC 1123 date.")
        if abs(time.time() - parsed.timestamp()) > SKEW_SECONDS:
            raise SignatureRefused(403, "TimeExpired", "The http request you sent is expired.")
        secret = self._secret(key_id, "InvalidAccessKeyId")
        mns_headers = "".join(f"{k}:{v}\n" for k, v in sorted((k.lower(), v) for k, v in headers.items()
                                                              if k.lower().startswith("x-mns-")))
        string_to_sign = (f"{method.upper()}\n{headers.get('content-md5', '')}\n{headers.get('content-type', '')}\n"
                          f"{date}\n{mns_headers}{raw_target}")
        expected = base64.b64encode(hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha1).digest()).decode()
        if not _same(expected, signature):
            raise SignatureRefused(403, "SignatureDoesNotMatch", "The request signature we calculated does not match "
                                   "the signature you provided.")
        if body:
            given = headers.get("content-md5", "")
            digest = hashlib.md5(body)
            accepted = {base64.b64encode(digest.hexdigest().encode()).decode(),
                        base64.b64encode(digest.digest()).decode()}
            if given and given not in accepted:
                raise SignatureRefused(400, "InvalidDegist", "The Content-MD5 you specified is invalid.")
        return key_id


def _looks_like_date(text: str) -> bool:
    try:
        return email.utils.parsedate_to_datetime(text) is not None
    except (TypeError, ValueError):
        return False
