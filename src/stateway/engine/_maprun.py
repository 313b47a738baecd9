"""Planning a distributed Map (versions-and-maprun.md §4.3-§4.4): items, ItemConstructor, MaxItems,
batches and the numeric settings, computed once when the Map starts. The Map Run itself (children,
concurrency, tolerance) is carried out by the runtime as the task ``MAP_RUN_ACTION``."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from stateway.engine._errors import DATA_LIMIT, INVALID_ARGUMENT, StateFailure
from stateway.expr import EvaluationError, Expression
from stateway.expr._values import type_name
from stateway.fdl import State
from stateway.jsontext import dumps, loads

if TYPE_CHECKING:
    from stateway.engine._run import Run

MAP_RUN_ACTION = "stateway:MapRun"
MAP_RUN_MODE = "WaitForSystemCallback"
DEFAULT_CONCURRENCY = 100
MAX_ITEMS = 10_000


def map_run_name(execution_name: str, task_id: str) -> str:
    """32 lowercase hex characters (as CloudFlow's), a pure function of execution and task."""
    return hashlib.sha256(f"{execution_name}\n{task_id}".encode()).hexdigest()[:32]


def _number(run: Run, env: Any, expr: Expression | None, literal: float | None, field: str, *,
            integer: bool, high: float | None = None) -> float | None:
    if expr is None:
        return literal
    try:
        value = expr.evaluate(env)
    except EvaluationError as exc:
        raise StateFailure(INVALID_ARGUMENT, f"{field}.$: {exc.message}") from None
    ok = isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
    ok = ok and (not integer or float(value).is_integer()) and (high is None or value <= high)
    if not ok:
        raise StateFailure(INVALID_ARGUMENT, f"{field}.$ gave {dumps(value)}, not a valid {field}")
    return int(value) if integer else float(value)


def plan(run: Run, frame: dict[str, Any], state: State, map_run: str, limits: dict[str, int]) -> dict[str, Any]:
    """The Map Run task's parameters. With ItemsPath the children are built here; with an ItemReader
    (files: I/O, so not in the engine) the integration reads the items and builds them the same way."""
    config = state.map_run
    assert config is not None
    env = run.env(frame, frame["input"])
    batch = None
    if config.batched:
        batch = {"maxItems": config.batch_max_items, "maxBytes": config.batch_max_bytes, "batchInput": None}
        if config.batch_input is not None:
            batch["batchInput"] = run.build(config.batch_input, env, "BatchInput")
    concurrency = _number(run, env, config.max_concurrency_expr, config.max_concurrency, "MaxConcurrency",
                          integer=True)
    parameters: dict[str, Any] = {
        "mapRunName": map_run,
        "concurrency": int(concurrency or DEFAULT_CONCURRENCY),
        "toleratedFailureCount": _number(run, env, config.tolerated_count_expr, config.tolerated_count,
                                         "ToleratedFailureCount", integer=True),
        "toleratedFailurePercentage": _number(run, env, config.tolerated_percentage_expr,
                                              config.tolerated_percentage, "ToleratedFailurePercentage",
                                              integer=False, high=100),
        "executionMode": config.execution_mode,
        "definition": config.processor_source,
        "globals": run.state["globals"],  # each child starts with a copy; its writes stay its own
    }
    if config.result_writer is not None:
        parameters["writer"] = run.build(config.result_writer, env, "ResultWriter")
    if config.reader_kind is not None:
        source = run.build(config.reader_parameters, env, "ItemReader.SourceParameters") \
            if config.reader_parameters is not None else {}
        parameters["reader"] = {"SourceType": config.reader_kind, "SourceParameters": source,
                                "ReaderConfig": dict(config.reader_config)}
        parameters["build"] = {"itemConstructor": config.item_constructor_source and loads(config.item_constructor_source),
                               "mapInput": frame["input"],
                               "batch": batch, "maxItems": config.max_items,
                               "itemLimit": limits.get("map_items", MAX_ITEMS), "payloadLimit": limits["payload_bytes"]}
        return parameters
    try:
        items = state.items_path.evaluate(env) if state.items_path is not None else None
    except EvaluationError as exc:
        raise StateFailure(INVALID_ARGUMENT, f"ItemsPath: {exc.message}") from None
    if type(items) is not list:
        raise StateFailure(INVALID_ARGUMENT, f"ItemsPath {state.items_path.source if state.items_path else ''!r} "
                           f"gave {type_name(items)}, not an array")

    def construct(item: Any) -> Any:
        if state.item_constructor is None:
            return item
        return run.build(state.item_constructor, run.env(frame, frame["input"], item=item), "ItemConstructor")

    parameters["children"], parameters["itemCounts"] = children_of(
        items, construct, batch, config.max_items, limits.get("map_items", MAX_ITEMS), limits["payload_bytes"])
    return parameters


def children_of(items: list[Any], construct: Any, batch: dict[str, Any] | None, max_items: int | None,
                item_limit: int, payload_limit: int) -> tuple[list[Any], list[int]]:
    """§4.3: MaxItems, the item limit, ItemConstructor, batching; each child input an object within
    the payload limit. Returns the child inputs and how many items each holds."""
    if max_items is not None:
        items = items[:max_items]
    if len(items) > item_limit:
        raise StateFailure(DATA_LIMIT, f"the Map has {len(items)} items, over the limit of {item_limit}")
    inputs = [construct(item) for item in items]
    children, sizes = _batches(inputs, batch) if batch is not None else (inputs, [1] * len(inputs))
    for i, child in enumerate(children):
        if type(child) is not dict:
            raise StateFailure(INVALID_ARGUMENT, f"item {i} gives a child execution input of {type_name(child)}, "
                               "not an object; build one with ItemConstructor (e.g. value.$: $Item)")
        if len(dumps(child).encode()) > payload_limit:
            raise StateFailure(DATA_LIMIT, f"the input of child {i} is over {payload_limit} bytes")
    return children, sizes


def _batches(inputs: list[Any], batch: dict[str, Any]) -> tuple[list[Any], list[int]]:
    """Consecutive items in order; a batch closes at MaxItemsPerBatch items, or before the item that
    would take its compact JSON over MaxInputBytesPerBatch."""
    extra = {"BatchInput": batch["batchInput"]} if batch.get("batchInput") is not None else {}
    max_items = batch.get("maxItems") or len(inputs) or 1
    max_bytes = batch.get("maxBytes")
    batches: list[Any] = []
    sizes: list[int] = []
    current: list[Any] = []
    empty = len(dumps({"Items": [], **extra}).encode())
    current_bytes = empty
    for i, item in enumerate(inputs):
        item_bytes = len(dumps(item).encode())
        if max_bytes is not None and empty + item_bytes > max_bytes:
            raise StateFailure(DATA_LIMIT, f"item {i} alone is over MaxInputBytesPerBatch ({max_bytes} bytes)")
        grown = current_bytes + item_bytes + (1 if current else 0)  # the comma between items
        if current and (len(current) >= max_items or (max_bytes is not None and grown > max_bytes)):
            batches.append({"Items": current, **extra})
            sizes.append(len(current))
            current, current_bytes = [], empty
            grown = empty + item_bytes
        current.append(item)
        current_bytes = grown
    if current:
        batches.append({"Items": current, **extra})
        sizes.append(len(current))
    return batches, sizes
