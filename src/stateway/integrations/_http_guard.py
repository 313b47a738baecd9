"""Which hosts HTTP:Request may reach, and a connection that goes only where the check looked.

Three rules close the ways around an address rule:

- **Every address is normalised before it is compared.** An IPv4-mapped (``::ffff:127.0.0.1``),
  IPv4-compatible (``::127.0.0.1``) or NAT64 (``64:ff9b::7f00:1``) IPv6 address is also checked as
  the IPv4 address it carries, since an IPv4 network never contains an IPv6 address. The
  unspecified addresses (``0.0.0.0``, ``0``, ``::``) and the rest of ``0.0.0.0/8`` connect to the
  local host, so they are checked as ``127.0.0.1`` and ``::1`` as well.
- **A name is resolved once.** Every address it resolves to is checked, and the connection is made
  to those checked addresses (``PinnedBackend``), never to a second lookup's answer, so a DNS
  server that answers differently the second time (DNS rebinding) gets nowhere. The request still
  carries the URL's host name in its Host header and TLS SNI.
- **Internal addresses are refused by default** on a server reachable from other hosts (``[http]
  internal``): loopback, link-local (with the cloud metadata addresses), private and shared ranges.
"""

from __future__ import annotations

import asyncio
import fnmatch
import ipaddress
import socket
import typing
from dataclasses import dataclass
from typing import Any

from httpcore import AnyIOBackend, AsyncNetworkBackend, AsyncNetworkStream, ConnectError, ConnectTimeout

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# refused unless `[http] internal = "allow"` or an `allow` network holds the address
INTERNAL_NETWORKS: tuple[Network, ...] = tuple(ipaddress.ip_network(n) for n in (
    "127.0.0.0/8", "::1/128",                       # loopback
    "0.0.0.0/8", "::/128",                          # "this host": connects to the local host
    "169.254.0.0/16", "fe80::/10",                  # link-local, with the metadata address 169.254.169.254
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",  # private
    "100.64.0.0/10",                                # shared (carrier NAT); Alibaba Cloud's metadata is 100.100.100.200
    "fc00::/7", "fec0::/10",                        # unique local, old site-local
    "192.0.0.0/24", "198.18.0.0/15",                # IETF protocol assignments, benchmarking
    "224.0.0.0/4", "ff00::/8", "240.0.0.0/4",       # multicast, reserved (incl. 255.255.255.255)
))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_THIS_HOST = ipaddress.ip_network("0.0.0.0/8")
_LOCAL_HOST = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))


def normal(address: Address) -> Address:
    """The IPv4 address an IPv6 address carries (mapped, compatible or NAT64), else the address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        value = int(address)
        if value >> 32 == 0 and value > 1:  # IPv4-compatible (::a.b.c.d); :: and ::1 are their own
            return ipaddress.IPv4Address(value)
        if address in _NAT64:
            return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    return address


def equivalents(address: Address) -> set[Address]:
    """Every address a connection to ``address`` may in effect reach, for deny checks."""
    forms: set[Address] = {address, normal(address)}
    if any(a.is_unspecified or a in _THIS_HOST for a in list(forms)):
        forms.update(_LOCAL_HOST)
    return forms


def is_internal(address: Address) -> bool:
    return any(a in n for a in equivalents(address) for n in INTERNAL_NETWORKS)


@dataclass(frozen=True)
class HostRules:
    """``[http] allow``/``deny``/``internal``: a host is refused if it matches deny; if ``internal``
    holds and one of its addresses is internal, unless an ``allow`` network holds that address; or if
    allow is given and it does not match allow. A name matches by pattern; an address (the URL's,
    or each one the name resolves to) by network. With an allow list, every resolved address must be
    allowed."""

    allow_names: tuple[str, ...] = ()
    allow_networks: tuple[Network, ...] = ()
    deny_names: tuple[str, ...] = ()
    deny_networks: tuple[Network, ...] = ()
    internal: bool = False  # refuse internal addresses

    @classmethod
    def parse(cls, config: dict[str, Any] | None) -> HostRules:
        config = config or {}
        unknown = set(config) - {"allow", "deny", "internal"}
        if unknown:
            raise ValueError(f"[http] takes allow, deny and internal, not {', '.join(sorted(unknown))}")
        parts: dict[str, tuple[list[str], list[Network]]] = {}
        for key in ("allow", "deny"):
            entries = config.get(key, [])
            if not isinstance(entries, (list, tuple)) or not all(isinstance(e, str) and e for e in entries):
                raise ValueError(f"[http] {key} must be a list of host names, addresses or CIDR ranges")
            names: list[str] = []
            networks: list[Network] = []
            for entry in entries:
                try:
                    networks.append(ipaddress.ip_network(entry.strip(), strict=False))
                except ValueError:
                    if "/" in entry or " " in entry.strip():
                        raise ValueError(f"[http] {key}: {entry!r} is neither a host name nor a CIDR range") from None
                    names.append(entry.strip().lower().rstrip("."))
            parts[key] = (names, networks)
        internal = config.get("internal", "allow")
        if internal not in ("auto", "allow", "deny"):
            raise ValueError(f"[http] internal must be \"auto\", \"allow\" or \"deny\", got {internal!r}")
        return cls(tuple(parts["allow"][0]), tuple(parts["allow"][1]), tuple(parts["deny"][0]),
                   tuple(parts["deny"][1]), internal == "deny")

    @classmethod
    def of(cls, settings: Any) -> HostRules:
        """The rules of ``[http]`` as loaded (already checked) into the settings (``HttpSettings``);
        ``internal = "auto"`` not decided by a listener (``stateway run``, the Python API) allows."""
        return cls.parse({"allow": list(settings.allow), "deny": list(settings.deny),
                          "internal": getattr(settings, "internal", "allow")})

    @property
    def active(self) -> bool:
        return bool(self.allow_names or self.allow_networks or self.deny_names or self.deny_networks
                    or self.internal)

    @staticmethod
    def _name_in(host: str, patterns: tuple[str, ...]) -> bool:
        return any(fnmatch.fnmatchcase(host, p) for p in patterns)

    def _allowed_network(self, address: Address) -> bool:
        return any(a in n for a in {address, normal(address)} for n in self.allow_networks)

    def refusal(self, host: str, addresses: list[Address]) -> str | None:
        """Why ``host`` (resolving to ``addresses``) may not be called, or None."""
        host = host.lower().rstrip(".")
        if self._name_in(host, self.deny_names):
            return f"the host {host} is denied by [http] deny"
        for address in addresses:
            if any(a in n for a in equivalents(address) for n in self.deny_networks):
                return f"the host {host} ({address}) is denied by [http] deny"
        if self.internal:
            for address in addresses:
                if is_internal(address) and not self._allowed_network(address):
                    return (f"the host {host} ({address}) is an internal address (loopback, link-local or "
                            "private), refused on a server listening beyond loopback; see [http] internal")
        if not (self.allow_names or self.allow_networks) or self._name_in(host, self.allow_names):
            return None
        for address in addresses:
            if not self._allowed_network(address):
                return f"the host {host} ({address}) is not in [http] allow"
        return None if addresses else f"the host {host} is not in [http] allow"


@dataclass(frozen=True)
class Target:
    """One resolved address: as checked, and as connected to (an IPv6 link-local keeps its scope)."""

    address: Address
    connect: str


async def resolve(host: str, port: int) -> list[Target]:
    """Every address ``host`` stands for, in the resolver's order, each once. One lookup only."""
    literal = host.strip("[]")
    try:
        address = ipaddress.ip_address(literal)
        return [Target(address, str(address))]
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    targets: list[Target] = []
    for info in infos:
        connect = str(info[4][0])
        target = Target(ipaddress.ip_address(connect.split("%", 1)[0]), connect)
        if target not in targets:
            targets.append(target)
    if not targets:
        raise OSError(f"{host} resolves to no address")
    return targets


class PinnedBackend(AsyncNetworkBackend):
    """httpcore's network backend for one request (no proxy, no redirect): every connection goes to
    the addresses that were checked, in order, and never looks a name up again. The host httpx
    asks for is not used at all, so even a URL that httpx parsed differently from the check
    cannot reach another address."""

    def __init__(self, host: str, targets: list[Target]) -> None:
        self.host = host
        self.targets = targets
        self._inner = AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: typing.Iterable[Any] | None = None) -> AsyncNetworkStream:
        error: Exception | None = None
        # an address that never answers leaves time for the next (a connect refused moves on at once)
        each = timeout if timeout is None or len(self.targets) == 1 else max(timeout / len(self.targets),
                                                                             min(timeout, 3.0))
        for target in self.targets:
            try:
                return await self._inner.connect_tcp(target.connect, port, timeout=each,
                                                     local_address=local_address, socket_options=socket_options)
            except (ConnectError, ConnectTimeout) as exc:  # the next address, as a resolver-driven connect would
                error = exc
        raise error or ConnectError(f"{host}: no address to connect to")

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: typing.Iterable[Any] | None = None) -> AsyncNetworkStream:
        raise ConnectError("HTTP:Request does not connect to Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
