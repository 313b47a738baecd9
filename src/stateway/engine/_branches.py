"""Parallel and inline Map states in a run: their child frames started (within MaxConcurrency),
a scope's end handed to its parent (or ending the execution), the results gathered. A part of
the interpreter's ``_Run``."""

from __future__ import annotations

from typing import Any

from stateway.engine import _inline_map as inline_map
from stateway.engine import _redrive
from stateway.engine import _v1 as v1
from stateway.engine._errors import INVALID_ARGUMENT, StateFailure
from stateway.engine.state import Frame
from stateway.expr import EvaluationError
from stateway.expr._values import type_name
from stateway.fdl import State
from stateway.jsontext import dumps as _dumps


class BranchSteps:
    """Mixed into ``_Run`` (``_interpreter.py``): ``self`` is the run."""

    # -- Parallel and Map -------------------------------------------------------------------------
    def start_parallel(self, frame: Frame, state: State) -> None:
        self.history("StepStarted", self._exit_name(frame, state), {})
        frame["stage"] = "children"
        base = self._exit_name(frame, state)
        kids: dict[str, Any] = {"kind": "parallel", "results": [None] * len(state.branches), "done": 0,
                                "running": []}
        frame["kids"] = kids
        for i, scope in enumerate(state.branches):
            self.history("BranchEntered", f"{base}/Branch{i}", {})
            kids["running"].append(self.new_frame(frame["id"], scope, f"{base}/Branch{i}", frame["input"], index=i))

    def start_map(self, frame: Frame, state: State) -> None:
        if state.v1 is not None:
            self.start_items(frame, state, *v1.foreach_inputs(self, frame, state))
            return
        env = self.env(frame, frame["input"])
        try:
            items = state.items_path.evaluate(env) if state.items_path is not None else None
        except EvaluationError as exc:
            raise StateFailure(INVALID_ARGUMENT, f"ItemsPath: {exc.message}") from None
        if type(items) is not list:
            raise StateFailure(INVALID_ARGUMENT, f"ItemsPath {state.items_path.source if state.items_path else ''!r} "
                               f"gave {type_name(items)}, not an array")
        self.history("StepStarted", self._exit_name(frame, state), {})
        inputs = []
        own_item = frame.get("item")
        for index, item in enumerate(items):
            if state.item_constructor is not None:
                frame["item"] = {"Index": index, "Value": item}  # $Context.Map.Item in ItemConstructor too
                item_env = self.env(frame, frame["input"], item=item)
                inputs.append(self.build(state.item_constructor, item_env, "ItemConstructor"))
            else:
                inputs.append(item)
        frame["item"] = own_item
        self.start_items(frame, state, items, inputs, inline_map.concurrency(self, frame, state))

    def start_items(self, frame: Frame, state: State, items: list[Any], inputs: list[Any],
                    limit: int | None = None) -> None:
        if state.v1 is not None:
            self.history("StepStarted", self._exit_name(frame, state), {})
        frame["stage"] = "children"
        frame["kids"] = {"kind": "map", "results": [None] * len(items), "items": inputs, "values": items,
                         "next": 0, "done": 0, "running": [],
                         "limit": state.max_concurrency if limit is None else limit}
        if not items:
            self.children_done(frame, state)
            return
        self.fill_map(frame, state)

    def fill_map(self, frame: Frame, state: State) -> None:
        kids = frame["kids"]
        base = self._exit_name(frame, state)
        limit = kids["limit"] or len(kids["items"])
        assert state.processor is not None
        while kids["next"] < len(kids["items"]) and len(kids["running"]) < limit:
            i = kids["next"]
            kids["next"] += 1
            self.history("IterationEntered", f"{base}/Item[{i}]", {"index": i})
            kids["running"].append(self.new_frame(frame["id"], state.processor, f"{base}/Item[{i}]",
                                                  kids["items"][i], index=i,
                                                  item={"Index": i, "Value": kids["values"][i]}))

    def end_scope(self, frame: Frame, ok: bool, output: Any, error: str = "", cause: str = "") -> None:
        if not ok:
            _redrive.keep(self)  # before the failure pops anything: where a redrive carries on
        frames = self.state["frames"]
        frames.pop(frame["id"], None)
        parent_id = frame["parent"]
        if parent_id is None:
            if ok and self.flow.v1 is not None:
                output = v1.flow_output(self, frame, output)
            if ok:
                self.end_execution("Succeeded", output, "", "", reason="")
            else:
                self.end_execution("Failed", None, error, cause, reason="execution failed")
            return
        parent = frames[parent_id]
        kids = parent["kids"]
        if kids["kind"] == "option":
            v1.option_ended(self, frame, parent, ok, output, error, cause)
            return
        pstate = self.state_of(parent)
        kids["running"].remove(frame["id"])
        label = "BranchExited" if kids["kind"] == "parallel" else "IterationExited"
        self.history(label, frame["path"], {"output": _dumps(output)} if ok else {"error": error, "cause": cause})
        if not ok:
            reason = (f"branch {frame['index']} failed with {error}" if kids["kind"] == "parallel"
                      else f"item {frame['index']} failed with {error}")
            for sibling in list(kids["running"]):
                self.cancel_frame(sibling, reason)
            parent["kids"] = None
            parent["stage"] = "attempt_failed"
            self.fail_state(parent, error, cause)
            return
        kids["results"][frame["index"]] = output
        kids["done"] += 1
        if kids["kind"] == "map":
            self.fill_map(parent, pstate)
        if kids["done"] == len(kids["results"]):
            self.children_done(parent, pstate)

    def children_done(self, frame: Frame, state: State) -> None:
        kids = frame["kids"]
        if state.v1 is not None:
            raw = list(kids["results"])
        elif kids["kind"] == "parallel":
            raw = {f"Branch{i}": out for i, out in enumerate(kids["results"])}
        else:
            raw = {"Items": kids["results"]}
        frame["kids"] = None
        try:
            if self.finish_state(frame, state, raw):
                self.ready.append(frame["id"])
        except StateFailure as failure:
            self.fail_state(frame, failure.error, failure.cause)
