"""The flow model: frozen dataclasses built once per definition by the loader."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stateway.expr import Expression, Template

TASK_MODES = ("RequestComplete", "WaitForSystemCallback", "WaitForCustomCallback")


@dataclass(frozen=True)
class Problem:
    severity: str  # "error" or "warning"
    path: str  # e.g. 'States[2] "Charge" > Retry[0] > Errors'
    message: str
    line: int  # 1-based; 0 when unknown
    column: int  # 1-based; 0 when unknown

    def format(self, filename: str = "<flow>") -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{filename}:{self.line}:{self.column}: {self.severity}: {where}{self.message}"


class FlowDefinitionError(ValueError):
    """A definition with at least one error; ``problems`` lists every error and warning."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        errors = [p for p in problems if p.severity == "error"]
        super().__init__("; ".join(p.format() for p in errors) or "invalid flow definition")

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


@dataclass(frozen=True)
class RetryRule:
    errors: tuple[str, ...]
    max_attempts: int
    interval_seconds: float
    backoff_rate: float
    max_backoff_seconds: float | None

    def delay(self, retry_number: int) -> float:
        """Delay before retry ``retry_number`` (1-based)."""
        delay = self.interval_seconds * self.backoff_rate ** (retry_number - 1)
        if self.max_backoff_seconds is not None:
            delay = min(delay, self.max_backoff_seconds)
        return delay


@dataclass(frozen=True)
class CatchRule:
    errors: tuple[str, ...]
    next: str
    output: Template | None


@dataclass(frozen=True)
class ChoiceBranch:
    condition: Expression
    next: str


@dataclass(frozen=True)
class MapRunConfig:
    """A distributed Map (versions-and-maprun.md §4): each item or batch runs as a child execution of
    ``processor_source`` (the Processor written out as a standalone flow)."""

    execution_mode: str  # "Express" or "Standard"; both run durably here, the mode is recorded
    processor_source: str
    max_concurrency: int | None = None  # None: the server default (100)
    max_concurrency_expr: Expression | None = None
    tolerated_count: int | None = None
    tolerated_count_expr: Expression | None = None
    tolerated_percentage: float | None = None
    tolerated_percentage_expr: Expression | None = None
    max_items: int | None = None
    batch_max_items: int | None = None
    batch_max_bytes: int | None = None
    batch_input: Template | None = None
    batched: bool = False
    # ItemReader (§5): the items come from files, read by the Map Run (I/O), not the engine
    reader_kind: str | None = None
    reader_parameters: Template | None = None
    reader_config: tuple[tuple[str, object], ...] = ()
    item_constructor_source: str | None = None  # JSON text of ItemConstructor, built per item by the Map Run
    result_writer: Template | None = None  # {Bucket, Prefix}: results written to files, not returned (§4.8)


@dataclass(frozen=True)
class State:
    name: str
    type: str
    path: str
    next: str | None = None
    end: bool = False
    input_constructor: Template | None = None
    output_constructor: Template | None = None
    global_constructor: Template | None = None
    # Task
    action: str | None = None
    task_mode: str = "RequestComplete"
    parameters: Template | None = None
    timeout: float | None = None
    timeout_expr: Expression | None = None
    heartbeat_seconds: float | None = None  # Stateway: a callback task fails unless it hears a beat this often
    heartbeat_expr: Expression | None = None
    correlation_expr: Expression | None = None  # Stateway: the key an outside system reports with
    retry: tuple[RetryRule, ...] = ()
    catch: tuple[CatchRule, ...] = ()
    # Wait
    seconds: float | None = None
    seconds_expr: Expression | None = None
    timestamp: float | None = None  # Timestamp: wait until this instant (epoch seconds) [Stateway]
    timestamp_expr: Expression | None = None  # Timestamp.$: an expression giving an RFC 3339 instant
    # Choice
    choices: tuple[ChoiceBranch, ...] = ()
    default: str | None = None
    # Parallel
    branches: tuple[Scope, ...] = ()
    # Map
    items_path: Expression | None = None
    processor: Scope | None = None
    max_concurrency: int = 0
    max_concurrency_expr: Expression | None = None  # MaxConcurrency.$ of an inline Map
    item_constructor: Template | None = None
    map_run: MapRunConfig | None = None  # set: the Map is distributed
    # Fail
    code: str | None = None
    detail: str | None = None
    # the older dialect's data flow and control (fdl-v1.md); None for the newer dialect
    v1: V1Step | None = None


@dataclass(frozen=True)
class Scope:
    """A ``{StartAt, States}`` block: the flow itself, a Parallel branch, or a Map processor."""

    key: str  # "" for the flow, "<parent key>/<state>#<n>" for branch n, "#map" for a processor
    start_at: str
    states: dict[str, State] = field(default_factory=dict)


@dataclass(frozen=True)
class Flow:
    name: str | None
    description: str | None
    timeout: float | None
    root: Scope
    scopes: dict[str, Scope]
    warnings: tuple[Problem, ...]
    source: str
    v1: V1Flow | None = None  # set when the definition is in the older dialect

    @property
    def dialect(self) -> str:
        return "v1" if self.v1 is not None else "StateMachine"

    def scope(self, key: str) -> Scope:
        return self.scopes[key]


# -- the older dialect (fdl-v1.md): what the newer model cannot say ------------------------------
@dataclass(frozen=True)
class V1Option:
    """A choice option (or the default): its condition, its own steps (a scope), its goto."""

    condition: Any  # a compiled v1 Condition; None for the default
    scope: Scope | None
    goto: str | None


@dataclass(frozen=True)
class V1Step:
    """How an older-dialect step moves data (fdl-v1.md §3): mappings, default output, local."""

    kind: str  # the v1 step type: task, pass, choice, parallel, foreach, wait, succeed, fail
    input_mappings: Any = None  # a v1 Mapping, or None for the default input
    output_mappings: Any = None
    error_mappings: Any = None
    stop: bool = False  # `end: true` or a succeed step: ends the enclosing scope (§2)
    resource: str = ""  # task: "fc", "flow" or "queue"
    resource_arn: str = ""
    pattern: str = ""
    service_params: tuple[tuple[str, Any], ...] = ()  # (key, Path or constant)
    options: tuple[V1Option, ...] = ()
    default_option: V1Option | None = None
    collection: Any = None  # foreach: a v1 Path
    item_key: str = ""
    index_key: str | None = None
    duration: Any = None  # wait: a number or a v1 Path
    timestamp: Any = None  # wait: an instant (epoch seconds) or a v1 Path


@dataclass(frozen=True)
class V1Flow:
    input_mappings: Any = None
    output_mappings: Any = None
