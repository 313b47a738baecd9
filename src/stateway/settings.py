"""Stateway's settings: one frozen, typed object, read and checked once at start.

Where a value comes from, first found wins: a command-line flag (an override), an environment
variable (``STATEWAY_STORE``, ``STATEWAY_ACCESS_KEYS``), the ``--config`` TOML file, the default
written here. ``Settings.load`` reads all of them; a bad value raises ``SettingsError`` naming the
section and the key, before anything is opened or started (the CLI turns it into exit 2).

The config file's sections::

    [store]        url, pool_size, statement_timeout, connect_timeout, startup_timeout, lease_seconds
    [limits]       events, payload_bytes, global_value_bytes, global_key_bytes, globals_bytes,
                   execution_seconds, decision_events, decision_bytes, v1_step_bytes, map_items
    [express]      keep, keep_seconds
    [retention]    days, redrive_days, sweep_seconds, batch, bulk_rate, bulk_page
    [http]         allow, deny, internal
    [dispatch]     <action prefix or action> = <how many of its tasks run at once>
    [oss_buckets]  <bucket name> = "<directory>"
    [telemetry]    otlp_endpoint, service_name, sample_ratio
    [functions]         defaults for every function: timeout, reuse, instance_concurrency, max_instances,
                        idle_seconds, memory_mb, initializer, max_dispatches, max_waiting
    [functions.<name>]  url | command | file, and any of the above, environment
    [brokers.<name>]    url (amqp://, redis://, nats://), timeout, retries, threads
    [[access_keys]]     id, secret; role, allow, flows, queues (stateway.policies)
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any

from stateway.engine import DEFAULT_LIMITS
from stateway.policies import POLICY_FIELDS, Keyring, Policy

# the engine's own defaults for the limits it reads with a fallback (older dialect, distributed Map)
_V1_STEP_BYTES = 32 * 1024
_MAP_ITEMS = 10_000
DEFAULT_LEASE_SECONDS = 6.0  # a dead worker's work moves within 1.25 x this (docs/deploy.md)
SECTIONS = ("store", "limits", "express", "http", "oss_buckets", "functions", "access_keys",
            "dispatch", "brokers", "retention", "telemetry")
BROKER_SCHEMES = {"amqp": "amqp", "amqps": "amqp", "redis": "redis", "rediss": "redis", "nats": "nats", "tls": "nats"}


class SettingsError(ValueError):
    """A setting that cannot be used; the message names where it came from (``[section] key``)."""


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


def _table(config: Mapping[str, Any], section: str) -> Mapping[str, Any]:
    value = config.get(section)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SettingsError(f"[{section}] must be a table, got {_describe(value)}")
    return value


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def _unknown(section: str, given: Mapping[str, Any], known: tuple[str, ...] | list[str]) -> None:
    for key in given:
        if key not in known:
            close = difflib.get_close_matches(str(key), list(known), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(known)})"
            where = "the config file has no section" if section == "" else f"[{section}] has no setting"
            raise SettingsError(f"{where} {key!r}{hint}")


def _number(section: str, key: str, value: Any, *, integer: bool = False, low: float | None = None,
            high: float | None = None) -> Any:
    kind = "a whole number" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise SettingsError(f"[{section}] {key} must be {kind}, got {_describe(value)}")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"at least {low:g}" if high is None else f"between {low:g} and {high:g}"
        raise SettingsError(f"[{section}] {key} must be {bounds}, got {value!r}")
    return int(value) if integer else float(value)


@dataclass(frozen=True)
class StoreSettings:
    """``[store]``: which database, and its tuning (PostgreSQL only, except ``lease_seconds``)."""

    url: str = ""  # postgresql://..., sqlite:///path.db, a .db file or a directory; "" → data_dir
    data_dir: str = ""  # serve's --data-dir: the SQLite database when no url is given
    pool_size: int = 10  # connections per process
    statement_timeout: float = 30.0  # seconds; a longer statement is cancelled
    connect_timeout: float = 10.0  # seconds to get a connection
    startup_timeout: float = 60.0  # seconds a starting node waits for the database
    lease_seconds: float = DEFAULT_LEASE_SECONDS  # how long a claim lasts without renewal

    @property
    def target(self) -> str:
        """What ``open_store`` opens: the url, else the data directory."""
        return self.url or self.data_dir

    @property
    def shared(self) -> bool:
        """Whether other processes may use the same database (PostgreSQL)."""
        return self.target.startswith(("postgresql://", "postgres://"))

    def open_options(self) -> dict[str, Any]:
        """Keyword arguments of ``open_store`` for this target."""
        if not self.shared:
            return {}
        return {"pool_size": self.pool_size, "statement_timeout": self.statement_timeout,
                "connect_timeout": self.connect_timeout, "startup_timeout": self.startup_timeout}

    @classmethod
    def parse(cls, section: Mapping[str, Any]) -> StoreSettings:
        _unknown("store", section, [f.name for f in fields(cls) if f.name != "data_dir"])
        values: dict[str, Any] = {}
        if "url" in section:
            if not isinstance(section["url"], str):
                raise SettingsError(f"[store] url must be text, got {_describe(section['url'])}")
            values["url"] = section["url"]
        if "pool_size" in section:
            values["pool_size"] = _number("store", "pool_size", section["pool_size"], integer=True, low=1, high=1000)
        for key in ("statement_timeout", "connect_timeout", "startup_timeout"):
            if key in section:
                values[key] = _number("store", key, section[key], low=0.1)
        if "lease_seconds" in section:
            values["lease_seconds"] = _number("store", "lease_seconds", section["lease_seconds"], low=1, high=600)
        return cls(**values)


@dataclass(frozen=True)
class Limits:
    """``[limits]``: what one execution may use (docs/architecture.md, "Limits at run time")."""

    events: int = DEFAULT_LIMITS["events"]
    payload_bytes: int = DEFAULT_LIMITS["payload_bytes"]
    global_value_bytes: int = DEFAULT_LIMITS["global_value_bytes"]
    global_key_bytes: int = DEFAULT_LIMITS["global_key_bytes"]
    globals_bytes: int = DEFAULT_LIMITS["globals_bytes"]
    execution_seconds: int = DEFAULT_LIMITS["execution_seconds"]  # 0: no limit
    decision_events: int = DEFAULT_LIMITS["decision_events"]
    decision_bytes: int = DEFAULT_LIMITS["decision_bytes"]
    v1_step_bytes: int = _V1_STEP_BYTES
    map_items: int = _MAP_ITEMS

    @cached_property
    def table(self) -> dict[str, int]:
        """As the engine takes them (``Interpreter(limits=...)``); do not change it."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def parse(cls, section: Mapping[str, Any]) -> Limits:
        names = [f.name for f in fields(cls)]
        _unknown("limits", section, names)
        return cls(**{key: _number("limits", key, value, integer=True, low=0 if key == "execution_seconds" else 1)
                      for key, value in section.items()})


@dataclass(frozen=True)
class ExpressSettings:
    """``[express]``: ended Express executions are kept in memory, at most ``keep`` of them and for
    at most ``keep_seconds``, whichever is fewer."""

    keep: int = 1000
    keep_seconds: float = 600.0

    @classmethod
    def parse(cls, section: Mapping[str, Any]) -> ExpressSettings:
        _unknown("express", section, ("keep", "keep_seconds"))
        values: dict[str, Any] = {}
        if "keep" in section:
            values["keep"] = _number("express", "keep", section["keep"], integer=True, low=0)
        if "keep_seconds" in section:
            values["keep_seconds"] = _number("express", "keep_seconds", section["keep_seconds"], low=0)
        return cls(**values)


@dataclass(frozen=True)
class RetentionSettings:
    """``[retention]``: ended executions are deleted ``days`` after their end (0: kept forever; a flow's
    ``retention_days`` overrides it) by a sweep every ``sweep_seconds``, ``batch`` at a time; they can be
    redriven for ``redrive_days``. Bulk operations touch at most ``bulk_rate`` executions a second, in
    transactions of ``bulk_page``."""

    days: float = 30.0
    redrive_days: float = 14.0
    sweep_seconds: float = 60.0
    batch: int = 500
    bulk_rate: float = 1000.0
    bulk_page: int = 100

    @classmethod
    def parse(cls, section: Mapping[str, Any]) -> RetentionSettings:
        names = [f.name for f in fields(cls)]
        _unknown("retention", section, names)
        values: dict[str, Any] = {}
        for key, value in section.items():
            integer = key in ("batch", "bulk_page")
            low = 1 if integer or key in ("sweep_seconds", "bulk_rate") else 0
            values[key] = _number("retention", key, value, integer=integer, low=low)
        return cls(**values)


@dataclass(frozen=True)
class HttpSettings:
    """``[http]``: hosts HTTP:Request may (``allow``) or may not (``deny``) call: host names,
    ``*.suffix`` patterns, IP addresses and CIDR ranges. Empty: any host. ``internal``: whether
    loopback, link-local and private addresses may be called: ``"allow"``, ``"deny"``, or
    ``"auto"`` (the default), which denies them on a process reachable from other hosts (see
    ``Settings.listening_on``)."""

    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    internal: str = "auto"

    @classmethod
    def parse(cls, section: Mapping[str, Any]) -> HttpSettings:
        unknown = set(section) - {"allow", "deny", "internal"}
        if unknown:
            raise SettingsError(f"[http] takes allow, deny and internal, not {', '.join(sorted(map(str, unknown)))}")
        lists: dict[str, Any] = {}
        for key in ("allow", "deny"):
            entries = section.get(key, [])
            if not isinstance(entries, (list, tuple)) or not all(isinstance(e, str) and e.strip() for e in entries):
                raise SettingsError(f"[http] {key} must be a list of host names, addresses or CIDR ranges")
            for entry in entries:
                try:
                    ipaddress.ip_network(entry.strip(), strict=False)
                except ValueError:
                    if "/" in entry or " " in entry.strip():
                        raise SettingsError(f"[http] {key}: {entry!r} is neither a host name nor a CIDR range") from None
            lists[key] = tuple(entries)
        internal = section.get("internal", "auto")
        if internal not in ("auto", "allow", "deny"):
            raise SettingsError(f"[http] internal must be \"auto\", \"allow\" or \"deny\", got {_describe(internal)}")
        return cls(**lists, internal=internal)


@dataclass(frozen=True)
class FunctionSettings:
    """The local function runtime: ``--functions DIR``, ``[functions.<name>]`` entries, and the
    environment every function gets (``STATEWAY_ENDPOINT`` and the first key pair), known before
    the runtime is built."""

    directory: str | None = None
    entries: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: _frozen({}))
    env: Mapping[str, str] = field(default_factory=lambda: _frozen({}), repr=False)  # holds a secret
    async_workers: int = 8  # threads running Async invocations

    defaults: Mapping[str, Any] = field(default_factory=lambda: _frozen({}))  # [functions] key = value

    @staticmethod
    def parse_entries(section: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
        return FunctionSettings.parse_section(section)[1]

    @staticmethod
    def parse_section(section: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Mapping[str, Any]]]:
        """``[functions]``: its plain values are the defaults of every function (``FUNCTION_OPTIONS``),
        its tables (``[functions.<name>]``) one function each; both checked here."""
        defaults: dict[str, Any] = {}
        entries = {}
        for name, entry in section.items():
            if not isinstance(entry, Mapping):
                if name not in FUNCTION_OPTIONS or name == "environment":
                    _unknown("functions", {name: entry}, [k for k in FUNCTION_OPTIONS if k != "environment"])
                defaults[str(name)] = _function_option("functions", str(name), entry)
                continue
            where = f"functions.{name}"
            kinds = [k for k in ("url", "command", "file") if k in entry]
            if len(kinds) > 1:
                raise SettingsError(f"[{where}] takes one of url, command or file, not {' and '.join(kinds)}")
            _unknown(where, entry, ["url", "command", "file", *FUNCTION_OPTIONS])
            for key, value in entry.items():
                if key in ("url", "command", "file"):
                    if not (isinstance(value, str) and value):
                        raise SettingsError(f"[{where}] {key} must be non-empty text, got {_describe(value)}")
                else:
                    _function_option(where, key, value)
            entries[str(name)] = _frozen(entry)
        return defaults, entries


# what [functions] (defaults) and [functions.<name>] (one function) may set, besides url/command/file
FUNCTION_OPTIONS = ("timeout", "reuse", "instance_concurrency", "max_instances", "idle_seconds", "memory_mb",
                    "initializer", "max_dispatches", "max_waiting", "environment")


def _function_option(where: str, key: str, value: Any) -> Any:
    if key == "reuse":
        if not isinstance(value, bool):
            raise SettingsError(f"[{where}] reuse must be true or false, got {_describe(value)}")
        return value
    if key == "initializer":
        if not (isinstance(value, str) and value.strip()):
            raise SettingsError(f"[{where}] initializer must be a function name, got {_describe(value)}")
        return value
    if key == "environment":
        if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
            raise SettingsError(f"[{where}] environment must be a table of text values")
        return dict(value)
    if key in ("timeout", "idle_seconds"):
        return _number(where, key, value, low=0.001 if key == "timeout" else 0)
    bounds = {"instance_concurrency": (1, 1000), "max_instances": (1, 10_000), "memory_mb": (0, 1 << 20),
              "max_dispatches": (1, 1000), "max_waiting": (0, 1_000_000)}[key]
    return _number(where, key, value, integer=True, low=bounds[0], high=bounds[1])


@dataclass(frozen=True)
class BrokerSettings:
    """``[brokers.<name>]``: a message broker the RabbitMQ/Redis/NATS:SendMessage actions publish to.
    ``url`` may hold a password: it is kept out of ``repr`` (logs), and integrations show it redacted."""

    name: str
    url: str = field(repr=False)
    timeout: float = 5.0  # seconds one attempt (connect, publish and its confirm) may take
    retries: int = 2  # further attempts after a connection error, with backoff
    threads: int = 8  # this broker's own dispatch threads (and connections)

    @property
    def kind(self) -> str:
        """amqp, redis or nats."""
        return BROKER_SCHEMES[self.url.partition("://")[0].lower()]

    @classmethod
    def parse(cls, name: str, entry: Any) -> BrokerSettings:
        where = f"brokers.{name}"
        if not isinstance(entry, Mapping):
            raise SettingsError(f"[{where}] must be a table with a url, got {type(entry).__name__}")
        _unknown(where, entry, ("url", "timeout", "retries", "threads"))
        url = entry.get("url")
        scheme = url.partition("://")[0].lower() if isinstance(url, str) and "://" in url else ""
        if scheme not in BROKER_SCHEMES:
            raise SettingsError(f"[{where}] url must be an amqp://, redis:// or nats:// URL"
                                + (f", not {scheme}://" if scheme else ""))
        values: dict[str, Any] = {}
        if "timeout" in entry:
            values["timeout"] = _number(where, "timeout", entry["timeout"], low=0.05, high=3600)
        if "retries" in entry:
            values["retries"] = _number(where, "retries", entry["retries"], integer=True, low=0, high=100)
        if "threads" in entry:
            values["threads"] = _number(where, "threads", entry["threads"], integer=True, low=1, high=1000)
        return cls(name=str(name), url=url, **values)


@dataclass(frozen=True)
class TelemetrySettings:
    """``[telemetry]``: OpenTelemetry traces (docs/telemetry.md), off unless ``otlp_endpoint`` is set."""

    otlp_endpoint: str | None = None  # the collector's OTLP HTTP base URL (``/v1/traces`` is added)
    service_name: str = "stateway"
    sample_ratio: float = 1.0  # the share of executions traced, decided per execution

    @property
    def enabled(self) -> bool:
        return bool(self.otlp_endpoint)

    @classmethod
    def parse(cls, section: Mapping[str, Any]) -> TelemetrySettings:
        _unknown("telemetry", section, ("otlp_endpoint", "service_name", "sample_ratio"))
        values: dict[str, Any] = {}
        for key in ("otlp_endpoint", "service_name"):
            if key in section:
                if not isinstance(section[key], str) or not section[key].strip():
                    raise SettingsError(f"[telemetry] {key} must be non-empty text, got {_describe(section[key])}")
                values[key] = section[key].strip()
        if "sample_ratio" in section:
            values["sample_ratio"] = _number("telemetry", "sample_ratio", section["sample_ratio"], low=0, high=1)
        return cls(**values)


@dataclass(frozen=True)
class Settings:
    """Everything a Stateway process is configured with. Build it with ``Settings.load`` (the CLI)
    or ``Settings.from_config`` (a dict shaped like the config file); change a copy with
    ``dataclasses.replace`` or ``with_function_env``."""

    store: StoreSettings = field(default_factory=StoreSettings)
    limits: Limits = field(default_factory=Limits)
    express: ExpressSettings = field(default_factory=ExpressSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    functions: FunctionSettings = field(default_factory=FunctionSettings)
    oss_buckets: Mapping[str, str] = field(default_factory=lambda: _frozen({}))  # bucket name → directory
    access_keys: Mapping[str, str] = field(default_factory=lambda: _frozen({}), repr=False)  # id → secret
    access_policies: Mapping[str, Policy] = field(default_factory=lambda: _frozen({}))  # id → policy, when limited
    dispatch_threads: int = 64  # threads running integrations (outbox commands)
    # [dispatch]: tasks of one integration (action prefix "HTTP", or a whole action) run at once
    dispatch_limits: Mapping[str, int] = field(default_factory=lambda: _frozen({}))
    log_format: str = "text"  # "text" or "json"
    brokers: Mapping[str, BrokerSettings] = field(default_factory=lambda: _frozen({}), repr=False)  # name → broker
    telemetry: TelemetrySettings = field(default_factory=TelemetrySettings)

    # -- building --------------------------------------------------------------------------------------
    @classmethod
    def load(cls, config_file: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None,
             **overrides: Any) -> Settings:
        """The config file (if any), then the environment, then ``overrides`` (see ``from_config``)."""
        config: dict[str, Any] = {}
        if config_file is not None:
            try:
                config = tomllib.loads(Path(config_file).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
                raise SettingsError(f"{exc}") from None
        return cls.from_config(config, env=os.environ if env is None else env, **overrides)

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None = None, *, env: Mapping[str, str] | None = None,
                    store_url: str | None = None, data_dir: str | None = None, lease_seconds: float | None = None,
                    functions_dir: str | os.PathLike[str] | None = None, function_env: Mapping[str, str] | None = None,
                    async_workers: int | None = None, oss_buckets: Mapping[str, str] | None = None,
                    dispatch_threads: int | None = None, log_format: str | None = None) -> Settings:
        """``config`` is shaped like the config file (``{"limits": {...}, "store": {...}}``); ``env``
        (none by default) adds ``STATEWAY_STORE`` and ``STATEWAY_ACCESS_KEYS``; the keywords are
        what command-line flags set, and win. Every value is checked here."""
        config = config or {}
        env = env or {}
        if not isinstance(config, Mapping):
            raise SettingsError(f"the configuration must be a table, got {_describe(config)}")
        _unknown("", config, SECTIONS)
        store = StoreSettings.parse(_table(config, "store"))
        url = store_url or env.get("STATEWAY_STORE") or store.url
        store = replace(store, url=url, data_dir=data_dir if data_dir is not None else store.data_dir)
        if lease_seconds is not None:
            store = replace(store, lease_seconds=_number("store", "lease_seconds", lease_seconds, low=0.1))
        function_defaults, function_entries = FunctionSettings.parse_section(_table(config, "functions"))
        functions = FunctionSettings(
            directory=os.fspath(functions_dir) if functions_dir is not None else None,
            entries=_frozen(function_entries), defaults=_frozen(function_defaults),
            env=_frozen(_text_map("function environment", function_env or {})),
            async_workers=(FunctionSettings.async_workers if async_workers is None
                           else _number("functions", "async_workers", async_workers, integer=True, low=1)))
        buckets = {str(k): v for k, v in _table(config, "oss_buckets").items()}
        buckets.update(oss_buckets or {})
        for name, directory in buckets.items():
            if not isinstance(directory, str) or not os.path.isdir(directory):
                raise SettingsError(f"[oss_buckets] {name}: {directory!r} is not a directory")
        format_ = log_format or "text"
        if format_ not in ("text", "json"):
            raise SettingsError(f"the log format must be text or json, got {format_!r}")
        return cls(store=store, limits=Limits.parse(_table(config, "limits")),
                   express=ExpressSettings.parse(_table(config, "express")),
                   retention=RetentionSettings.parse(_table(config, "retention")),
                   http=HttpSettings.parse(_table(config, "http")), functions=functions,
                   oss_buckets=_frozen(buckets), access_keys=_frozen(_access_keys(config, env)),
                   access_policies=_frozen(_access_policies(config)),
                   dispatch_threads=(64 if dispatch_threads is None else
                                     _number("runtime", "dispatch_threads", dispatch_threads, integer=True, low=1)),
                   dispatch_limits=_frozen(_dispatch_limits(_table(config, "dispatch"))),
                   log_format=format_, telemetry=TelemetrySettings.parse(_table(config, "telemetry")),
                   brokers=_frozen({str(n): BrokerSettings.parse(str(n), e) for n, e in _table(config, "brokers").items()}))

    def with_function_env(self, env: Mapping[str, str]) -> Settings:
        """A copy whose functions also get ``env`` (e.g. the API endpoint, once it is chosen)."""
        merged = {**self.functions.env, **_text_map("function environment", env)}
        return replace(self, functions=replace(self.functions, env=_frozen(merged)))

    def listening_on(self, host: str | None) -> Settings:
        """A copy with ``[http] internal = "auto"`` decided for a process whose API listens on
        ``host``: internal addresses are denied unless it listens on loopback only. ``None``: a
        worker, which runs flows submitted through API nodes anywhere, so it denies them."""
        if self.http.internal != "auto":
            return self
        local = host is not None and _is_loopback(host)
        return replace(self, http=replace(self.http, internal="allow" if local else "deny"))

    def with_store_url(self, url: str) -> Settings:
        return replace(self, store=replace(self.store, url=url))

    def with_functions_dir(self, directory: str | os.PathLike[str] | None) -> Settings:
        return replace(self, functions=replace(self.functions,
                                               directory=None if directory is None else os.fspath(directory)))

    def keyring(self) -> Keyring:
        """The access keys with their policies, as the server holds them (and reloads them)."""
        return Keyring(self.access_keys, self.access_policies)

    @property
    def first_key(self) -> tuple[str, str] | None:
        """The key pair handed to functions that call back."""
        return next(iter(self.access_keys.items()), None)


def _is_loopback(host: str) -> bool:
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _dispatch_limits(section: Mapping[str, Any]) -> dict[str, int]:
    """``[dispatch] HTTP = 16``: a name is an action's prefix (``HTTP``, ``FC``) or a whole action
    (``"HTTP:Request"``); the value how many of its tasks run at once (the rest wait in the outbox)."""
    limits = {}
    for name, value in section.items():
        if not isinstance(name, str) or not name or name.strip() != name:
            raise SettingsError(f"[dispatch] {name!r} is not an action or action prefix")
        limits[name] = int(_number("dispatch", name, value, integer=True, low=1, high=10_000))
    return limits


def _text_map(what: str, values: Mapping[str, Any]) -> dict[str, str]:
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in values.items()):
        raise SettingsError(f"the {what} maps names to text")
    return dict(values)


def _access_policies(config: Mapping[str, Any]) -> dict[str, Policy]:
    """The policy of each ``[[access_keys]]`` entry that has one (docs/api.md, "Access policies")."""
    policies = {}
    for entry in config.get("access_keys", []) if isinstance(config.get("access_keys"), list) else []:
        if not isinstance(entry, Mapping):
            continue
        where = f"[[access_keys]] {entry.get('id')!r}:"
        # a misspelt "allow" must not leave the key with every right
        unknown = set(entry) - {"id", "secret", *POLICY_FIELDS}
        if unknown:
            raise SettingsError(f"{where} unknown field(s) {', '.join(sorted(map(str, unknown)))} (known: id, "
                                f"secret, {', '.join(POLICY_FIELDS)})")
        if any(name in entry for name in POLICY_FIELDS):
            try:
                policies[str(entry.get("id"))] = Policy.parse(entry, where)
            except ValueError as exc:
                raise SettingsError(str(exc)) from None
    return policies


def _access_keys(config: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, str]:
    """``[[access_keys]] id/secret`` of the config file, then ``STATEWAY_ACCESS_KEYS=id:secret,...``."""
    entries = config.get("access_keys", [])
    if not isinstance(entries, list):
        raise SettingsError("[[access_keys]] must be a list of tables with id and secret")
    keys: dict[str, str] = {}
    for entry in entries:
        if not isinstance(entry, Mapping) or not str(entry.get("id", "")).strip() or not entry.get("secret"):
            raise SettingsError("[[access_keys]] entries need a non-empty id and secret")
        keys[str(entry["id"])] = str(entry["secret"])
    for pair in filter(None, env.get("STATEWAY_ACCESS_KEYS", "").split(",")):
        key_id, _, secret = (part.strip() for part in pair.partition(":"))
        if not key_id or not secret:
            raise SettingsError("STATEWAY_ACCESS_KEYS takes id:secret pairs separated by commas, "
                                "each with a non-empty id and secret")
        keys[key_id] = secret
    return keys


__all__ = ["BROKER_SCHEMES", "DEFAULT_LEASE_SECONDS", "FUNCTION_OPTIONS", "BrokerSettings", "ExpressSettings",
           "FunctionSettings", "HttpSettings", "Limits", "RetentionSettings", "Settings", "SettingsError",
           "StoreSettings", "TelemetrySettings"]
