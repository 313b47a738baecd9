"""The older dialect's data flow and control inside the one interpreter (fdl-v1.md §2, §3).

A frame of a v1 flow carries, besides the current step's input (``frame["input"]`` = S.in), its
scope's input (``scope_in`` = P.in) and local (``loc`` = P.loc). The interpreter calls these
functions at a few points (step entry, step completion, choice, catch, wait, foreach, task
parameters, scope end); everything else (tasks, timers, retries, cancellation, history,
durability) is the interpreter's own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stateway.engine._errors import DATA_LIMIT, INVALID_ARGUMENT, StateFailure
from stateway.fdl import CatchRule, State
from stateway.fdl._v1 import parse_instant
from stateway.fdl._v1data import Path, V1EvalError
from stateway.jsontext import dumps as _dumps

if TYPE_CHECKING:
    from stateway.engine._run import Run

STARTED_KINDS = ("task", "parallel", "foreach")
DEFAULT_STEP_BYTES = 32 * 1024


def init_frame(frame: dict[str, Any], scope_input: Any) -> None:
    frame["scope_in"] = scope_input
    frame["loc"] = {}


def context(run: Run, frame: dict[str, Any], state: State | None, token: str | None = None) -> dict[str, Any]:
    st = run.state
    task = {"token": token, "retryCount": frame["retries"]} if token is not None else {"token": None,
                                                                                          "retryCount": None}
    return {"task": task, "execution": {"name": st["name"], "input": st["input"]}, "flow": {"name": st["flow"]},
            "step": {"name": state.name if state is not None else None}}


def flow_input(run: Run, execution_input: Any) -> Any:
    mappings = run.flow.v1.input_mappings if run.flow.v1 is not None else None
    if mappings is None:
        return execution_input
    roots = {"input": execution_input, "local": {}, "": execution_input,
             "context": {"task": {"token": None, "retryCount": None},
                         "execution": {"name": run.state["name"], "input": execution_input},
                         "flow": {"name": run.state["flow"]}, "step": {"name": None}}}
    return mappings.build(roots)


def flow_output(run: Run, frame: dict[str, Any], local: Any) -> Any:
    mappings = run.flow.v1.output_mappings if run.flow.v1 is not None else None
    if mappings is None:
        return local
    scope_in = frame["scope_in"]
    return mappings.build({"input": scope_in, "local": local, "": scope_in, "context": context(run, frame, None)})


def step_input(run: Run, frame: dict[str, Any], state: State, token: str | None = None) -> Any:
    assert state.v1 is not None
    scope_in, loc = frame["scope_in"], frame["loc"]
    default = {**scope_in, **loc} if isinstance(scope_in, dict) else dict(loc)
    mappings = state.v1.input_mappings
    if mappings is None:
        return default
    roots = {"input": scope_in, "local": loc, "": default}
    if mappings.uses_context:
        roots["context"] = context(run, frame, state, token)
    return mappings.build(roots)


def enter(run: Run, frame: dict[str, Any], state: State) -> None:
    frame["input"] = step_input(run, frame, state)


def _eval(path: Any, run: Run, frame: dict[str, Any], state: State, token: str | None = None) -> Any:
    if not isinstance(path, Path):
        return path
    roots = {"": frame["input"], "input": frame["input"]}
    if path.root == "context":
        roots["context"] = context(run, frame, state, token)
    return path.evaluate(roots)


def task_parameters(run: Run, frame: dict[str, Any], state: State, token: str) -> dict[str, Any]:
    """The request of one task attempt; inputMappings are evaluated again for it (§5.1)."""
    v1 = state.v1
    assert v1 is not None
    if v1.input_mappings is not None and v1.input_mappings.uses_context:
        frame["input"] = step_input(run, frame, state, token)
    body = frame["input"]
    params = {key: _eval(value, run, frame, state, token) for key, value in v1.service_params}
    request: dict[str, Any] = {"resourceArn": v1.resource_arn}
    if v1.resource == "fc":
        asynchronous = v1.pattern != "requestResponse" or params.get("InvocationType") == "Async"
        request.update(invocationType="Async" if asynchronous else "Sync", body=body)
    elif v1.resource == "flow":
        request["input"] = params["Input"] if "Input" in params else body
        if params.get("ExecutionName") is not None:
            request["executionName"] = params["ExecutionName"]
    else:
        message = params.get("MessageBody")
        request["message"] = message if isinstance(message, str) else _dumps(message)
        if "Priority" in params:
            request["priority"] = params["Priority"]
        if "DelaySeconds" in params:
            request["delaySeconds"] = params["DelaySeconds"]
    return request


def _result(state: State, raw: Any) -> Any:
    """A task's $local: the integration's result (a function's return value, JSON-decoded)."""
    v1 = state.v1
    assert v1 is not None
    if v1.resource == "fc" and v1.pattern != "waitForCallback" and isinstance(raw, dict) and set(raw) == {"Body"}:
        raw = raw["Body"]
        if isinstance(raw, str):
            import json

            try:
                raw = json.loads(raw) if raw.strip() else None
            except ValueError:
                pass
    return {} if raw is None or raw == "" else raw


def finish(run: Run, frame: dict[str, Any], state: State, raw: Any, *, jump: str | None = None,
           stop: bool = False) -> bool:
    """A step completed with ``raw``: its local, output, the merge into the scope's local, and the
    next step (§3.2, §2). False when the frame's scope ended."""
    v1 = state.v1
    assert v1 is not None
    kind = v1.kind
    if kind == "task":
        local = _result(state, raw)
    elif kind in ("parallel", "foreach", "choice"):
        local = raw
    else:
        local = {}
    step_in = frame["input"]
    if v1.output_mappings is not None:
        roots = {"input": step_in, "local": local, "": step_in}
        if v1.output_mappings.uses_context:
            roots["context"] = context(run, frame, state)
        output = v1.output_mappings.build(roots)
    elif kind in ("task", "choice"):
        output = local
    else:
        output = {}
    if type(output) is not dict:
        raise StateFailure(INVALID_ARGUMENT, f"the result of step {state.name!r} is {_kind(output)}, not an object; "
                           "read it with outputMappings (e.g. source: $local[0])")
    limit = run.interp.limits.get("v1_step_bytes", DEFAULT_STEP_BYTES)
    text = _dumps(output)
    size = len(text.encode()) + len(_dumps(step_in).encode()) + (len(_dumps(local).encode()) if local else 2)
    if size > limit:
        raise StateFailure(DATA_LIMIT, f"step {state.name!r}: input, output and local are {size} bytes together, "
                           f"over the limit of {limit}")
    name = run._exit_name(frame, state)
    if kind in STARTED_KINDS:
        run.history("StepSucceeded", name, {"output": text})
    run.history("StepExited", name, {"output": text})
    frame["loc"] = {**frame["loc"], **output}
    return transition(run, frame, state, jump, stop or v1.stop)


def transition(run: Run, frame: dict[str, Any], state: State, jump: str | None, stop: bool) -> bool:
    if jump:
        frame["state"] = jump
        frame["stage"] = "enter"
        return True
    if stop or state.next is None:
        frame["stopped"] = stop
        run.end_scope(frame, True, frame["loc"])
        return False
    frame["state"] = state.next
    frame["stage"] = "enter"
    return True


def _kind(value: Any) -> str:
    from stateway.expr._values import type_name

    return type_name(value)


def choose(run: Run, frame: dict[str, Any], state: State) -> bool:
    """Takes the first option whose condition is true, else the default (§5.3)."""
    v1 = state.v1
    assert v1 is not None
    roots = {"": frame["input"], "input": frame["input"], "context": context(run, frame, state)}
    chosen = v1.default_option
    for option in v1.options:
        try:
            value = option.condition.evaluate(roots)
        except V1EvalError as exc:
            raise StateFailure(INVALID_ARGUMENT, f"condition {option.condition.source!r}: {exc}") from None
        if value is None or value is False:
            continue
        if value is not True:
            raise StateFailure(INVALID_ARGUMENT, f"condition {option.condition.source!r} gave {_dumps(value)}, "
                               "not a boolean")
        chosen = option
        break
    if chosen is None:
        return finish(run, frame, state, {})
    if chosen.scope is None:
        return finish(run, frame, state, {}, jump=chosen.goto)
    frame["stage"] = "children"
    kids: dict[str, Any] = {"kind": "option", "running": [], "goto": chosen.goto}
    frame["kids"] = kids
    kids["running"].append(run.new_frame(frame["id"], chosen.scope, frame["path"], frame["input"], index=0))
    return False


def option_ended(run: Run, child: dict[str, Any], parent: dict[str, Any], ok: bool, output: Any, error: str,
                 cause: str) -> None:
    """A choice option's steps ended: the choice completes with their local, then jumps; a stop
    (succeed / end: true) inside the option ends the scope around the choice too (§2)."""
    goto = parent["kids"]["goto"]
    parent["kids"] = None
    if not ok:
        parent["stage"] = "attempt_failed"
        run.fail_state(parent, error, cause)
        return
    stopped = bool(child.get("stopped"))
    state = run.state_of(parent)
    try:
        if finish(run, parent, state, output, jump=None if stopped else goto, stop=stopped):
            run.ready.append(parent["id"])
    except StateFailure as failure:
        run.fail_state(parent, failure.error, failure.cause)


def caught(run: Run, frame: dict[str, Any], state: State, rule: CatchRule, error: str, cause: str) -> None:
    """A catch rule matched: the task's output is its errorMappings (§8.3), then goto."""
    v1 = state.v1
    assert v1 is not None
    output: dict[str, Any] = {}
    if v1.error_mappings is not None:
        local = {"error": error, "cause": cause, "code": error}
        roots = {"input": frame["input"], "local": local, "": frame["input"]}
        if v1.error_mappings.uses_context:
            roots["context"] = context(run, frame, state)
        output = v1.error_mappings.build(roots)
    run.history("StepExited", run._exit_name(frame, state), {"output": _dumps(output), "caught": error})
    frame["loc"] = {**frame["loc"], **output}
    frame["state"] = rule.next
    frame["stage"] = "enter"
    run.ready.append(frame["id"])


def wait_seconds(run: Run, frame: dict[str, Any], state: State) -> float:
    v1 = state.v1
    assert v1 is not None
    if v1.duration is not None:
        value = _eval(v1.duration, run, frame, state)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            raise StateFailure(INVALID_ARGUMENT, f"duration gave {_dumps(value)}, not a number of seconds ≥ 0")
        return float(value)
    value = _eval(v1.timestamp, run, frame, state)
    instant = value if isinstance(value, float) and not isinstance(v1.timestamp, Path) else parse_instant(value)
    if instant is None:
        raise StateFailure(INVALID_ARGUMENT, f"timestamp gave {_dumps(value)}, not an RFC 3339 instant")
    return max(0.0, instant - run.now)


def foreach_inputs(run: Run, frame: dict[str, Any], state: State) -> tuple[list[Any], list[Any]]:
    v1 = state.v1
    assert v1 is not None
    items = _eval(v1.collection, run, frame, state)
    if type(items) is not list:
        raise StateFailure(INVALID_ARGUMENT, f"collection {v1.collection.source if v1.collection else ''!r} gave "
                           f"{_kind(items)}, not an array")
    base = frame["input"] if isinstance(frame["input"], dict) else {}
    inputs = []
    for i, item in enumerate(items):
        extra = {v1.item_key: item}
        if v1.index_key:
            extra[v1.index_key] = i
        inputs.append({**base, **extra})
    return items, inputs


def scheduled_detail(state: State) -> dict[str, Any]:
    v1 = state.v1
    return {"resourceArn": v1.resource_arn, "pattern": v1.pattern} if v1 is not None else {}

