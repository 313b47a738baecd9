"""Older dialect → newer dialect (``stateway convert``; fdl-v1.md §12).

The older dialect keeps two values per steps list (its input and its ``$local``), the newer one
passes one value from state to state. So every converted state carries an envelope
``{in, loc}``: ``in`` is the input of the steps list the step belongs to, ``loc`` what earlier
steps produced. A step's own input is ``jsonMerge($Input.in, $Input.loc)`` (or its
``inputMappings``); its OutputConstructor merges its output into ``loc``. A choice option's
steps are inlined after the choice and carry the enclosing envelope under ``outer`` until the
option ends. States keep their step names; a few helper states appear only where the newer
dialect has no place for a computation (named ``<step>-...``).

Two Stateway extensions keep the translation exact: ``OutputConstructor.$`` (a whole-value
constructor, needed because a ``$local`` has keys known only at run time) and ``jsonPath()``
(wildcard paths). Anything without an exact equivalent gets a comment in the output and a note.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from stateway.fdl._convert_expressions import ExpressionWriter, _Out
from stateway.fdl._convert_yaml import _lines
from stateway.fdl._loader import MAX_DEFINITION_BYTES
from stateway.fdl._model import Flow, Scope, State
from stateway.fdl._v1data import Path
from stateway.timefmt import iso

END = None
V1_STEP_BYTES = 32 * 1024  # the older dialect's rule on a step's input + output + local (fdl-v1.md §3.6)


def _sized(output: str, step_in: str, local: str, step: str) -> str:
    """``output`` checked by the older dialect's size rule; ``local`` "true" when it is the output itself."""
    return f"v1Sized({output}, {step_in}, {local}, {V1_STEP_BYTES}, {json.dumps(step, ensure_ascii=False)})"


@dataclass
class Conversion:
    text: str
    notes: list[str]  # what differs from the original; empty when the translation is exact


@dataclass
class _Level:
    """An option of a choice, inlined: where control goes when its steps end."""

    choice: State
    goto: str | None  # converted name of the option's goto
    after: str | None  # converted name of the step after the choice


class _Converter(ExpressionWriter):
    # -- scopes ---------------------------------------------------------------------------------
    def convert(self, name: str | None) -> dict[str, Any]:
        doc: dict[str, Any] = {"Type": "StateMachine", "SpecVersion": "v1"}
        if name:
            doc["Name"] = name
        if self.flow.description:
            doc["Description"] = self.flow.description
        if self.flow.timeout:
            doc["Timeout"] = _number(self.flow.timeout)
        doc.update(self.scope(self.flow.root, "flow"))
        return doc

    def scope(self, scope: Scope, kind: str) -> dict[str, Any]:
        ctx = _ScopeConverter(self, scope, kind)
        return ctx.run()


class _ScopeConverter:
    """One real scope (the flow, a branch, a foreach body) with its inlined choice options."""

    def __init__(self, conv: _Converter, scope: Scope, kind: str) -> None:
        self.conv = conv
        self.scope = scope
        self.kind = kind
        self.names: dict[tuple[str, str], str] = {}
        self.used: set[str] = set()
        self.states: list[_Out] = []
        self._assign(scope, "")

    # names: a step keeps its name unless an inlined option already used it
    def unique(self, wanted: str) -> str:
        name, n = wanted, 2
        while name in self.used:
            name = f"{wanted}-{n}"
            n += 1
        self.used.add(name)
        return name

    def _assign(self, scope: Scope, prefix: str) -> None:
        for state in scope.states.values():
            wanted = state.name if state.name not in self.used else f"{prefix}{state.name}"
            self.names[(scope.key, state.name)] = self.unique(wanted)
        for state in scope.states.values():
            v1 = state.v1
            if v1 is not None and v1.kind == "choice":
                for option in (*v1.options, v1.default_option):
                    if option is not None and option.scope is not None:
                        self._assign(option.scope, f"{prefix}{state.name}/")

    def name(self, scope: Scope, step: str | None) -> str | None:
        return None if step is None else self.names[(scope.key, step)]

    def run(self) -> dict[str, Any]:
        start = self.steps(self.scope, [], entry="flow" if self.kind == "flow" else "flat")
        states = [self.render(s) for s in self.states]
        return {"StartAt": start, "States": states}

    @staticmethod
    def render(out: _Out) -> dict[str, Any]:
        body = {k: out.body[k] for k in _ORDER if k in out.body}
        body.update((k, v) for k, v in out.body.items() if k not in body)
        if out.comments:
            body["#"] = out.comments
        return body

    def targets(self, scope: Scope) -> set[str]:
        """Names of a steps list that some goto in that list jumps to."""
        found: set[str] = set()
        for state in scope.states.values():
            found.update(rule.next for rule in state.catch)
            v1 = state.v1
            if v1 is not None:
                found.update(o.goto for o in (*v1.options, v1.default_option) if o is not None and o.goto)
        return found

    # -- a steps list -------------------------------------------------------------------------------
    def steps(self, scope: Scope, chain: list[_Level], entry: str) -> str:
        """Converts a steps list at depth len(chain); returns the name of its first state."""
        first = self.name(scope, scope.start_at)
        assert first is not None
        if entry != "flat" and (scope.start_at in self.targets(scope) or (
                entry == "flow" and self.conv.flow.v1 is not None and self.conv.flow.v1.input_mappings is not None)):
            helper = self.entry_helper(scope, chain, entry, first)
            entry = "flat"
            start = helper
        else:
            start = first
        for state in scope.states.values():
            self.step(scope, state, chain, entry if state.name == scope.start_at else "flat")
        return start

    def entry_helper(self, scope: Scope, chain: list[_Level], entry: str, first: str) -> str:
        """A Pass that sets up the envelope when the list's first step is also a jump target."""
        d = len(chain)
        if entry == "flow":
            name = self.unique("Begin")
            flow_in = self.conv.flow.v1.input_mappings if self.conv.flow.v1 is not None else None
            out = _Out({"Name": name, "Type": "Pass"})
            in_part: dict[str, Any] = {"in": self.conv.mapping_template(
                flow_in, {"input": "$Input", "": "$Input", "local": "{}"}, out)} if flow_in is not None \
                else {"in.$": "$Input"}
            out.body["OutputConstructor"] = {**in_part, "loc": {}}
            out.comments.append("the flow's input" + (" (its inputMappings)" if flow_in is not None else "")
                                + " and an empty $local")
        else:
            name = self.unique(f"{chain[-1].choice.name}-option")
            out = _Out({"Name": name, "Type": "Pass"})
            outer: dict[str, Any] = {"in.$": "$Input.in", "loc.$": "$Input.loc"}
            if d - 1 > 0:
                outer["outer.$"] = "$Input.outer"
            out.body["OutputConstructor"] = {"in.$": "$Input.step", "loc": {}, "outer": outer}
        out.body["Next"] = first
        self.states.append(out)
        return name

    # -- entry: the InputConstructor that normalises a state's input to {in, loc, outer, step} ------
    def entry_exprs(self, entry: str, d: int) -> tuple[str, str, Any]:
        if entry == "flow":
            return "$Input", "{}", None
        if entry == "option":
            outer: dict[str, Any] = {"in.$": "$Input.in", "loc.$": "$Input.loc"}
            if d - 1 > 0:
                outer["outer.$"] = "$Input.outer"
            return "$Input.step", "{}", outer
        return "$Input.in", "$Input.loc", "$Input.outer" if d > 0 else None

    def step_input(self, state: State, in_e: str, loc_e: str, out: _Out) -> tuple[bool, Any]:
        """(is it a template?, the step's input) built from the incoming envelope."""
        v1 = state.v1
        assert v1 is not None
        if v1.input_mappings is not None:
            default = in_e if loc_e == "{}" else f"jsonMerge({in_e}, {loc_e})"
            roots = {"input": in_e, "local": loc_e, "": default}
            return True, self.conv.mapping_template(v1.input_mappings, roots, out)
        return False, in_e if loc_e == "{}" else f"jsonMerge({in_e}, {loc_e})"

    def input_constructor(self, state: State, entry: str, d: int, out: _Out, *, with_step: bool) -> None:
        in_e, loc_e, outer_e = self.entry_exprs(entry, d)
        if entry == "flat" and not with_step:
            return
        ic: dict[str, Any] = {"in.$": in_e}
        ic.update({"loc": {}} if loc_e == "{}" else {"loc.$": loc_e})
        if outer_e is not None:
            ic.update({"outer": outer_e} if isinstance(outer_e, dict) else {"outer.$": outer_e})
        if with_step:
            is_template, value = self.step_input(state, in_e, loc_e, out)
            ic.update({"step": value} if is_template else {"step.$": value})
        out.body["InputConstructor"] = ic

    # -- completion: OutputConstructor and Next/End -------------------------------------------------
    def finish(self, out: _Out, chain: list[_Level], d: int, loc: str, jump: str | None, stop: bool,
               after: str | None, prefix: str = "$Input") -> None:
        result, target = self.transition(chain, d, loc, jump, stop, after, prefix)
        unchanged = {"in.$": "$Input.in", "loc.$": "$Input.loc", **({"outer.$": "$Input.outer"} if d > 0 else {})}
        if result == unchanged and prefix == "$Input":
            pass  # the output is the input: the envelope goes on as it is
        elif isinstance(result, str):
            out.body["OutputConstructor.$"] = result
        else:
            out.body["OutputConstructor"] = result
        if target is END:
            out.body["End"] = True
        else:
            out.body["Next"] = target

    def transition(self, chain: list[_Level], d: int, loc: str, jump: str | None, stop: bool, after: str | None,
                   prefix: str) -> tuple[Any, str | None]:
        def at(k: str, level: int) -> str:
            return prefix + ".outer" * (d - level) + f".{k}"

        if jump or (not stop and after):
            envelope: dict[str, Any] = {"in.$": at("in", d), "loc.$": loc}
            if d > 0:
                envelope["outer.$"] = prefix + ".outer"
            return envelope, jump or after
        if d == 0:
            return self.scope_end(loc, at("in", 0)), END
        level = chain[d - 1]
        choice = level.choice
        assert choice.v1 is not None
        choice_in = at("in", d)
        if choice.v1.output_mappings is not None:
            self.conv.step_name = choice.name
            choice_out = self.conv.mapping_literal(choice.v1.output_mappings,
                                                   {"input": choice_in, "": choice_in, "local": loc}, None)
            choice_out = _sized(choice_out, choice_in, loc, choice.name)
        else:
            choice_out = _sized(loc, choice_in, "true", choice.name)
        outer_loc = at("loc", d - 1)
        merged = f"jsonMerge({outer_loc}, {choice_out})"
        outer = f"{prefix}.outer"  # one level out: the enclosing envelope
        if stop:
            return self.transition(chain[:-1], d - 1, merged, None, True, None, outer)
        return self.transition(chain[:-1], d - 1, merged, level.goto, choice.v1.stop, level.after, outer)

    def scope_end(self, loc: str, scope_in: str) -> Any:
        flow_out = self.conv.flow.v1.output_mappings if self.conv.flow.v1 is not None else None
        if self.kind == "flow" and flow_out is not None:
            self.conv.step_name = None
            return self.conv.mapping_template(flow_out, {"input": scope_in, "": scope_in, "local": loc}, None)
        return loc

    # -- steps ----------------------------------------------------------------------------------------
    def step(self, scope: Scope, state: State, chain: list[_Level], entry: str) -> None:
        v1 = state.v1
        assert v1 is not None
        d = len(chain)
        name = self.name(scope, state.name)
        after = self.name(scope, state.next)
        out = _Out({"Name": name})
        self.states.append(out)
        kind = v1.kind
        self.conv.step_name = state.name
        if kind == "fail":
            out.body.update({"Type": "Fail", "Code": state.code or "FnF.Failed"})
            if state.detail:
                out.body["Detail"] = state.detail
            return
        if kind in ("parallel", "foreach"):
            self.step_nested(scope, state, chain, entry, out, after)
            return
        if kind == "choice":
            self.step_choice(scope, state, chain, entry, out, after)
            return
        # a step with inputMappings keeps its input in the envelope: its outputMappings, errorMappings
        # and the size rule read it
        needs_step = v1.input_mappings is not None
        self.input_constructor(state, entry, d, out, with_step=needs_step)
        step_in = "$Input.step" if needs_step else "jsonMerge($Input.in, $Input.loc)"
        if kind == "task":
            local = self.task(scope, state, out, step_in, needs_step)
        else:
            out.body["Type"] = {"pass": "Pass", "wait": "Wait", "succeed": "Succeed"}[kind]
            local = "{}"
            if kind == "wait":
                self.wait(state, out, step_in)
        if v1.output_mappings is not None:
            mapped = self.conv.mapping_literal(v1.output_mappings, {"input": step_in, "": step_in, "local": local},
                                               out)
            output = _sized(mapped, step_in, local, state.name)
        elif kind == "task":
            output = _sized(local, step_in, "true", state.name)
        else:
            output = _sized("{}", step_in, "{}", state.name)
        self.finish(out, chain, d, f"jsonMerge($Input.loc, {output})", None, v1.stop, after)
        if kind == "succeed":
            out.body.pop("End", None)
        elif kind == "task":
            self.catch(scope, state, out, d, step_in)

    def task(self, scope: Scope, state: State, out: _Out, step_in: str, has_step: bool) -> str:
        v1 = state.v1
        assert v1 is not None
        action = {"fc": "FC:InvokeFunction", "flow": "FNF:StartExecution", "queue": "MNS:SendMessage"}[v1.resource]
        out.body.update({"Type": "Task", "Action": action, "TaskMode": state.task_mode})
        self.conv.in_request = True  # $context.task.* has the attempt's token and retry count only here
        if v1.input_mappings is not None and not has_step:
            body: Any = self.conv.mapping_template(
                v1.input_mappings, {"input": "$Input.in", "local": "$Input.loc",
                                    "": "jsonMerge($Input.in, $Input.loc)"}, out)
        elif v1.input_mappings is not None and v1.input_mappings.uses_context:
            body = self.conv.mapping_template(
                v1.input_mappings, {"input": "$Input.in", "local": "$Input.loc",
                                    "": "jsonMerge($Input.in, $Input.loc)"}, out)
        else:
            body = step_in
        params: dict[str, Any] = {"resourceArn": v1.resource_arn}
        service = dict(v1.service_params)
        roots = {"": step_in, "input": step_in}

        def value(v: Any) -> tuple[bool, Any]:
            return (True, self.conv.path(v, roots, out)) if isinstance(v, Path) else (False, v)

        def put(key: str, v: Any) -> None:
            dynamic, converted = value(v) if not isinstance(v, tuple) else v
            params[f"{key}.$" if dynamic else key] = converted

        if v1.resource == "fc":
            asynchronous = v1.pattern != "requestResponse" or service.get("InvocationType") == "Async"
            params["invocationType"] = "Async" if asynchronous else "Sync"
            put("body", (False, body) if isinstance(body, dict) else (True, body))
        elif v1.resource == "flow":
            if "Input" in service:
                put("input", service["Input"])
            else:
                put("input", (False, body) if isinstance(body, dict) else (True, body))
            if "ExecutionName" in service:
                put("executionName", service["ExecutionName"])
        else:
            message = service.get("MessageBody")
            put("message", message)
            if "Priority" in service:
                put("priority", service["Priority"])
            if "DelaySeconds" in service:
                put("delaySeconds", service["DelaySeconds"])
        out.body["Parameters"] = params
        self.conv.in_request = False
        if state.timeout:
            out.body["Timeout"] = _number(state.timeout)
        if state.retry:
            out.body["Retry"] = [{
                "Errors": [_error_name(e) for e in rule.errors],
                "IntervalSeconds": _number(rule.interval_seconds),
                "MaxAttempts": rule.max_attempts,
                "BackoffRate": _number(rule.backoff_rate),
                **({"MaxBackoffSeconds": _number(rule.max_backoff_seconds)}
                   if rule.max_backoff_seconds is not None and rule.max_backoff_seconds != 86400 else {}),
            } for rule in state.retry]
        if v1.resource == "fc" and v1.pattern != "waitForCallback" and service.get("InvocationType") != "Async":
            return "v1Result($Output.Body, true)"  # a function's return value; JSON text decoded (§3.2)
        return "v1Result($Output)"

    def catch(self, scope: Scope, state: State, out: _Out, d: int, step_in: str) -> None:
        v1 = state.v1
        assert v1 is not None
        if not state.catch:
            return
        rules = []
        for rule in state.catch:
            loc = "$Input.loc"
            if v1.error_mappings is not None:
                error = {"error": "$Context.Current.Error.Code", "cause": "$Context.Current.Error.Detail",
                         "code": "$Context.Current.Error.Code"}
                mapped = self.conv.mapping_literal(v1.error_mappings, {"input": step_in, "": step_in, "local": error},
                                                   out)
                loc = f"jsonMerge($Input.loc, {mapped})"
            envelope: dict[str, Any] = {"in.$": "$Input.in", "loc.$": loc}
            if d > 0:
                envelope["outer.$"] = "$Input.outer"
            rules.append({"Errors": [_error_name(e) for e in rule.errors], "Next": self.name(scope, rule.next),
                          "OutputConstructor": envelope})
        # Catch goes before the transition keys for reading order
        next_keys = {k: out.body.pop(k) for k in ("Next", "End") if k in out.body}
        out.body["Catch"] = rules
        out.body.update(next_keys)

    def wait(self, state: State, out: _Out, step_in: str) -> None:
        v1 = state.v1
        assert v1 is not None
        if v1.duration is not None:
            if isinstance(v1.duration, Path):
                out.body["Seconds.$"] = self.conv.path(v1.duration, {"": step_in, "input": step_in}, out)
            elif float(v1.duration).is_integer():
                out.body["Seconds"] = int(v1.duration)
            else:
                out.body["Seconds.$"] = repr(float(v1.duration))
            return
        # Stateway's Timestamp / Timestamp.$ (fdl.md §2, Wait) waits until an instant, as the older dialect
        if isinstance(v1.timestamp, Path):
            out.body["Timestamp.$"] = self.conv.path(v1.timestamp, {"": step_in, "input": step_in}, out)
            return
        out.body["Timestamp"] = iso(float(v1.timestamp))

    def step_choice(self, scope: Scope, state: State, chain: list[_Level], entry: str, out: _Out,
                    after: str | None) -> None:
        v1 = state.v1
        assert v1 is not None
        d = len(chain)
        out.body["Type"] = "Choice"
        self.input_constructor(state, entry, d, out, with_step=True)
        roots = {"": "$Input.step", "input": "$Input.step"}
        helpers: dict[str | None, str] = {}

        def target_of(option: Any) -> str:
            if option is not None and option.scope is not None:
                level = _Level(state, self.name(scope, option.goto), after)
                return self.steps(option.scope, [*chain, level], entry="option")
            goto = self.name(scope, option.goto) if option is not None else None
            plain = v1.output_mappings is None and (goto or (after and not v1.stop))
            if plain:
                return goto or after  # type: ignore[return-value]
            if goto not in helpers:
                helpers[goto] = self.choice_done(state, chain, goto, after)
            return helpers[goto]

        branches = []
        pending: list[tuple[Any, dict[str, Any]]] = []
        for option in v1.options:
            branch = {"Condition": self.conv.condition(option.condition.source, roots, out)}
            branches.append(branch)
            pending.append((option, branch))
        out.body["Branches"] = branches
        out.body["Default"] = ""
        # the states of the options follow the choice, in option order
        for option, branch in pending:
            branch["Next"] = target_of(option)
        out.body["Default"] = target_of(v1.default_option)

    def choice_done(self, state: State, chain: list[_Level], goto: str | None, after: str | None) -> str:
        """A Pass completing a choice whose option has no steps, where the Choice state itself cannot
        (it has no OutputConstructor in the newer dialect)."""
        v1 = state.v1
        assert v1 is not None
        d = len(chain)
        name = self.unique(f"{state.name}-done")
        out = _Out({"Name": name, "Type": "Pass"})
        out.comments.append(f"completes choice {state.name!r}" + (f" before going to {goto!r}" if goto else ""))
        self.states.append(out)
        self.conv.step_name = state.name
        mapped = "{}"
        if v1.output_mappings is not None:
            mapped = self.conv.mapping_literal(v1.output_mappings,
                                               {"input": "$Input.step", "": "$Input.step", "local": "{}"}, out)
        loc = f"jsonMerge($Input.loc, {_sized(mapped, '$Input.step', '{}', state.name)})"
        self.finish(out, chain, d, loc, goto, v1.stop, after)
        return name

    def step_nested(self, scope: Scope, state: State, chain: list[_Level], entry: str, out: _Out,
                    after: str | None) -> None:
        """parallel and foreach: the branches/iterations get {in: the step's input, loc: {}}; the
        enclosing envelope waits under ``outer``."""
        v1 = state.v1
        assert v1 is not None
        d = len(chain)
        in_e, loc_e, outer_e = self.entry_exprs(entry, d)
        is_template, step_in = self.step_input(state, in_e, loc_e, out)
        outer: dict[str, Any] = {"in.$": in_e}
        outer.update({"loc": {}} if loc_e == "{}" else {"loc.$": loc_e})
        if outer_e is not None:
            outer.update({"outer": outer_e} if isinstance(outer_e, dict) else {"outer.$": outer_e})
        ic: dict[str, Any] = {"in": step_in} if is_template else {"in.$": step_in}
        ic.update({"loc": {}, "outer": outer})
        out.body["InputConstructor"] = ic
        if v1.kind == "parallel":
            out.body["Type"] = "Parallel"
            if len(state.branches) > 50:
                self.conv.note(out, f"step {state.name!r} has {len(state.branches)} branches; the newer dialect "
                               "allows 50")
            out.body["Branches"] = [self.conv.scope(branch, "branch") for branch in state.branches]
            local = "toArray(" + ", ".join(f"$Output.Branch{i}" for i in range(len(state.branches))) + ")"
        else:
            out.body["Type"] = "Map"
            assert isinstance(v1.collection, Path)
            out.body["ItemsPath"] = self.conv.path(v1.collection, {"": "$Input.in", "input": "$Input.in"}, out)
            extra = {v1.item_key: "$Item"}
            if v1.index_key:
                extra[v1.index_key] = "$Context.Map.Item.Index"
            fields = ", ".join(f"{json.dumps(k, ensure_ascii=False)}: {v}" for k, v in extra.items())
            out.body["ItemConstructor"] = {"in.$": f"jsonMerge($Input.in, {{{fields}}})", "loc": {}}
            out.body["MaxConcurrency"] = 100
            assert state.processor is not None
            out.body["Processor"] = self.conv.scope(state.processor, "iteration")
            local = "$Output.Items"
        self.conv.step_name = state.name
        mapped = "{}"
        if v1.output_mappings is not None:
            mapped = self.conv.mapping_literal(v1.output_mappings,
                                               {"input": "$Input.in", "": "$Input.in", "local": local}, out)
        loc = f"jsonMerge($Input.outer.loc, {_sized(mapped, '$Input.in', local, state.name)})"
        self.finish(out, chain, d, loc, None, v1.stop, after, prefix="$Input.outer")


def _error_name(name: str) -> str:
    return "FnF.Timeout" if name == "FnF.TaskTimeout" else name


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


_ORDER = ("Name", "Type", "Action", "TaskMode", "InputConstructor", "Parameters", "Timeout", "Seconds", "Seconds.$",
          "Timestamp", "Timestamp.$",
          "ItemsPath", "ItemConstructor", "MaxConcurrency", "Processor", "Branches", "Default", "Code", "Detail",
          "OutputConstructor", "OutputConstructor.$", "Retry", "Catch", "Next", "End")


HEADER = """\
# Converted from the older FDL dialect (version: v1, type: flow) by `stateway convert`.
# Each state's data is an envelope {{in, loc}}: `in` is the input of the steps list the step
# belongs to, `loc` what earlier steps of that list produced (the older dialect's $local).
# A step's input is jsonMerge($Input.in, $Input.loc) or its inputMappings (`step`); its
# OutputConstructor merges its output into `loc`. Steps of a choice option follow the
# choice and keep the enclosing envelope under `outer` until the option ends.
# Stateway extensions used: `OutputConstructor.$` (a whole-value constructor){json_path}.
"""


def convert_flow(flow: Flow, name: str | None = None) -> Conversion:
    """The newer-dialect text of an older-dialect flow (loaded with ``load_flow``)."""
    if flow.v1 is None:
        raise ValueError("the flow is not in the older dialect")
    conv = _Converter(flow)
    doc = conv.convert(name or flow.name)
    header = HEADER.format(json_path=" and jsonPath() (wildcard paths)" if conv.uses_json_path else "")
    body = "\n".join(_lines(doc, 0)) + "\n"
    size = len((header + body).encode())
    if size > MAX_DEFINITION_BYTES:
        conv.note(None, f"the converted definition is {size} bytes, over the {MAX_DEFINITION_BYTES}-byte limit of a "
                  "definition; split the flow (child flows) before converting it")
    if conv.notes:
        header += "# Differences (see the comments at the states):\n" + "".join(f"#  - {n}\n" for n in conv.notes)
    return Conversion(header + body, conv.notes)
