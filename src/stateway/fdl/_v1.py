"""The older dialect (``version: v1``, ``type: flow``; fdl-v1.md) loaded into the same flow model.

Each steps list becomes a Scope whose states are chained in list order; what the newer model
cannot say (mappings, ``$local`` merging, choice options with steps, ``stop``) rides in
``State.v1`` and ``Flow.v1`` and is carried out by ``engine/_v1.py``. Problems are collected with
line, column, step path and a "did you mean", like the newer dialect's; unknown keys are warnings.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import re
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from stateway.fdl._fields import FieldReader, _describe, to_plain
from stateway.fdl._model import CatchRule, Flow, RetryRule, Scope, State, V1Flow, V1Option, V1Step
from stateway.fdl._v1data import (
    Mapping,
    Path,
    V1SyntaxError,
    compile_condition,
    compile_path,
    is_path,
)

VERSIONS = ("v1", "v1beta1")
STEP_TYPES = ("task", "pass", "choice", "parallel", "foreach", "wait", "succeed", "fail")
NEW_DIALECT_KEYS = ("Type", "SpecVersion", "StartAt", "States")
FLOW_KEYS = {"version", "type", "steps", "inputMappings", "outputMappings", "timeoutSeconds", "name", "Name",
             "description"}
COMMON_KEYS = {"type", "name", "end", "inputMappings", "outputMappings", "description"}
STEP_KEYS: dict[str, set[str]] = {
    "task": {"resourceArn", "pattern", "timeoutSeconds", "serviceParams", "errorMappings", "retry", "catch"},
    "pass": set(),
    "choice": {"choices", "default"},
    "parallel": {"branches"},
    "foreach": {"iterationMapping", "steps"},
    "wait": {"duration", "timestamp"},
    "succeed": set(),
    "fail": {"error", "cause"},
}
TASK_ONLY = ("retry", "catch", "errorMappings")
PATTERNS = {"requestResponse": "RequestComplete", "sync": "WaitForSystemCallback",
            "waitForCallback": "WaitForCustomCallback"}
RESOURCES = {  # kind → (action, patterns)
    "fc": ("FC:InvokeFunction", ("requestResponse", "sync", "waitForCallback")),
    "flow": ("FNF:StartExecution", ("requestResponse", "sync", "waitForCallback")),
    "queue": ("MNS:SendMessage", ("requestResponse", "waitForCallback")),
}
_FC2 = re.compile(r"^acs:fc:[^:]*:[^:]*:services/[^./]+(?:\.[^/]+)?/functions/[^/]+$")
_FC3 = re.compile(r"^acs:fc:[^:]*:[^:]*:functions/[^/]+(?:/[^/]+)?$")
_FLOW = re.compile(r"^acs:fnf:[^:]*:[^:]*:flow/[^/]+$")
_QUEUE = re.compile(r"^acs:mns:[^:]*:[^:]*:/queues/[^/]+/messages$")
SERVICE_PARAMS = {"fc": {"InvocationType"}, "flow": {"Input", "ExecutionName"},
                  "queue": {"MessageBody", "Priority", "DelaySeconds"}}
MAX_BRANCHES = 100
MAX_TASK_TIMEOUT = 604800
MAX_INTERVAL = 86400


def _suggest(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def resource_kind(arn: str) -> str | None:
    if _FC2.match(arn) or _FC3.match(arn):
        return "fc"
    if _FLOW.match(arn):
        return "flow"
    if _QUEUE.match(arn):
        return "queue"
    return None


def is_v1_document(doc: Any) -> bool:
    return isinstance(doc, dict) and ("version" in doc or "steps" in doc or doc.get("type") == "flow")


class V1Loader:
    def __init__(self, base: FieldReader) -> None:
        self.base = base
        self.error = base.error
        self.warning = base.warning

    # -- document ------------------------------------------------------------------------------
    def load(self, doc: CommentedMap) -> Flow | None:
        mixed = [k for k in NEW_DIALECT_KEYS if k in doc]
        if mixed:
            self.error(mixed[0], f"this document mixes the two dialects: {', '.join(mixed)} belong to "
                       "'Type: StateMachine', while 'version'/'type: flow'/'steps' belong to the older dialect; "
                       "use one of them", doc, mixed[0])
        self.unknown(doc, FLOW_KEYS, "", "a flow")
        version = doc.get("version")
        if version not in VERSIONS:
            if "version" in doc:
                self.error("version", f"expected 'v1' (or 'v1beta1'), got {_describe(version)}", doc, "version")
            else:
                self.error("", "missing required field 'version' (v1)", doc)
        kind = doc.get("type")
        if kind != "flow":
            if "type" in doc:
                self.error("type", f"expected 'flow', got {_describe(kind)}{_suggest(str(kind), ['flow'])}",
                           doc, "type")
            else:
                self.error("", "missing required field 'type' (flow)", doc)
        name = None
        for key in ("name", "Name"):
            if key in doc:
                name = self.base.text(doc, key, "")
        description = doc.get("description") if isinstance(doc.get("description"), str) else None
        timeout = self.base.number(doc, "timeoutSeconds", "", low=0)
        flow_in = self.mappings(doc, "inputMappings", "", local_allowed=True)
        flow_out = self.mappings(doc, "outputMappings", "", local_allowed=True)
        root = self.steps(doc, "steps", "", "", required=True)
        if root is None or any(p.severity == "error" for p in self.base.problems):
            return None
        return Flow(name=name, description=description, timeout=timeout or None, root=root,
                    scopes=self.base.scopes, warnings=tuple(p for p in self.base.problems if p.severity == "warning"),
                    source=self.base.source, v1=V1Flow(flow_in, flow_out))

    def unknown(self, node: CommentedMap, allowed: set[str], path: str, what: str) -> None:
        for key in node:
            if key not in allowed:
                self.warning(f"{path} > {key}" if path else str(key),
                             f"unknown key {key!r} for {what} (ignored){_suggest(str(key), allowed)}", node, key)

    # -- steps lists ---------------------------------------------------------------------------
    def steps(self, node: CommentedMap, key: str, path: str, scope_key: str, *, required: bool) -> Scope | None:
        prefix = f"{path} > " if path else ""
        items = node.get(key)
        if items is None:
            if required or key in node:
                self.error(path, f"missing required field {key!r} (a non-empty list of steps)", node,
                           key if key in node else None)
            return None
        if not isinstance(items, CommentedSeq) or not items:
            self.error(f"{prefix}{key}", f"expected a non-empty list of steps, got {_describe(items)}", node, key)
            return None
        names: dict[str, tuple[CommentedMap, str]] = {}
        entries: list[tuple[CommentedMap, str, str]] = []
        for i, step in enumerate(items):
            spath = f"{prefix}{key}[{i}]"
            if not isinstance(step, CommentedMap):
                self.error(spath, f"a step is a mapping, got {_describe(step)}", items, i)
                continue
            name = step.get("name")
            if not isinstance(name, str) or not name or len(name) > 128:
                self.error(spath, "missing required field 'name'" if "name" not in step
                           else f"'name' must be text of 1 to 128 characters, got {_describe(name)}", step,
                           "name" if "name" in step else None)
                continue
            spath = f'{spath} "{name}"'
            if name in names:
                self.error(spath, f"duplicate step name {name!r} in this steps list", step, "name")
                continue
            names[name] = (step, spath)
            entries.append((step, spath, name))
        states: dict[str, State] = {}
        for i, (step, spath, name) in enumerate(entries):
            following = entries[i + 1][2] if i + 1 < len(entries) else None
            state = self.step(step, spath, name, scope_key, following, set(names))
            if state is not None:
                states[name] = state
        if entries:
            self.check_reachable(entries)
        scope = Scope(key=scope_key, start_at=entries[0][2] if entries else "", states=states)
        self.base.scopes[scope_key] = scope
        return scope

    def check_reachable(self, entries: list[tuple[CommentedMap, str, str]]) -> None:
        order = [name for _, _, name in entries]
        nodes = {name: step for step, _, name in entries}
        seen: set[str] = set()
        todo = [order[0]]
        while todo:
            name = todo.pop()
            if name in seen or name not in nodes:
                continue
            seen.add(name)
            step = nodes[name]
            kind = step.get("type")
            targets: list[Any] = []
            falls_through = kind not in ("succeed", "fail") and step.get("end") is not True
            if kind == "choice":
                options = [o for o in (step.get("choices") or []) if isinstance(o, dict)]
                default = step.get("default")
                gotos = [o.get("goto") for o in options] + ([default.get("goto")] if isinstance(default, dict) else [])
                targets += gotos
                # falls through when some option (or no match without a default) has no goto
                falls_through = falls_through and (not isinstance(default, dict) or None in gotos)
            for rule in step.get("catch") or []:
                if isinstance(rule, dict):
                    targets.append(rule.get("goto"))
            if falls_through:
                i = order.index(name)
                if i + 1 < len(order):
                    targets.append(order[i + 1])
            todo.extend(t for t in targets if isinstance(t, str))
        for step, spath, name in entries:
            if name not in seen:
                self.warning(spath, f"step {name!r} cannot be reached", step)

    # -- one step --------------------------------------------------------------------------------
    def step(self, node: CommentedMap, path: str, name: str, scope_key: str, following: str | None,
             siblings: set[str]) -> State | None:
        kind = node.get("type")
        if not isinstance(kind, str) or kind not in STEP_KEYS:
            if "type" not in node:
                self.error(path, "missing required field 'type'", node)
            else:
                self.error(f"{path} > type", f"unknown step type {_describe(kind)}; expected one of "
                           f"{', '.join(STEP_TYPES)}{_suggest(str(kind), STEP_TYPES)}", node, "type")
            return None
        errors_before = self.count_errors()
        self.unknown(node, COMMON_KEYS | STEP_KEYS[kind], path, f"a {kind} step")
        for key in TASK_ONLY:
            if key in node and kind != "task":
                self.error(f"{path} > {key}", f"{key!r} is allowed on task steps only; on a {kind} step it would "
                           "do nothing", node, key)
        end = node.get("end", False)
        if not isinstance(end, bool):
            self.error(f"{path} > end", f"expected true or false, got {_describe(end)}", node, "end")
            end = False
        v1: dict[str, Any] = {
            "kind": kind,
            "input_mappings": self.mappings(node, "inputMappings", path, local_allowed=True),
            "output_mappings": self.mappings(node, "outputMappings", path, local_allowed=True),
            "stop": bool(end) or kind == "succeed",
        }
        fields: dict[str, Any] = {"name": name, "path": path, "next": following, "end": following is None}
        getattr(self, f"step_{kind}")(node, path, name, scope_key, siblings, fields, v1)
        if self.count_errors() > errors_before:
            return None
        return State(**fields, v1=V1Step(**v1))

    def count_errors(self) -> int:
        return sum(1 for p in self.base.problems if p.severity == "error")

    def step_pass(self, node: CommentedMap, path: str, name: str, scope_key: str, siblings: set[str],
                  fields: dict[str, Any], v1: dict[str, Any]) -> None:
        fields["type"] = "Pass"

    def step_succeed(self, node: CommentedMap, path: str, name: str, scope_key: str, siblings: set[str],
                     fields: dict[str, Any], v1: dict[str, Any]) -> None:
        fields["type"] = "Succeed"
        fields["end"] = True

    def step_fail(self, node: CommentedMap, path: str, name: str, scope_key: str, siblings: set[str],
                  fields: dict[str, Any], v1: dict[str, Any]) -> None:
        fields["type"] = "Fail"
        fields["end"] = True
        fields["code"] = self.base.text(node, "error", path) or "FnF.Failed"
        cause = node.get("cause")
        fields["detail"] = "" if cause is None else str(cause)

    def step_wait(self, node: CommentedMap, path: str, name: str, scope_key: str, siblings: set[str],
                  fields: dict[str, Any], v1: dict[str, Any]) -> None:
        fields["type"] = "Wait"
        if ("duration" in node) == ("timestamp" in node):
            self.error(path, "a wait step needs exactly one of 'duration' and 'timestamp'", node)
            return
        if "duration" in node:
            value = node["duration"]
            if isinstance(value, str) and value.startswith("$"):
                v1["duration"] = self.path_value(node, "duration", path)
            elif isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
                v1["duration"] = float(value)
                fields["seconds"] = float(value)
            else:
                self.error(f"{path} > duration", f"expected seconds (a number ≥ 0) or a path such as $.delay, "
                           f"got {_describe(value)}", node, "duration")
        else:
            value = node["timestamp"]
            if isinstance(value, str) and value.startswith("$"):
                v1["timestamp"] = self.path_value(node, "timestamp", path)
                return
            instant = parse_instant(value)
            if instant is None:
                self.error(f"{path} > timestamp", f"expected an RFC 3339 instant (2019-05-02T15:04:05Z) or a "
                           f"path, got {_describe(value)}", node, "timestamp")
            else:
                v1["timestamp"] = instant

    def step_task(self, node: CommentedMap, path: str, name: str, scope_key: str, siblings: set[str],
                  fields: dict[str, Any], v1: dict[str, Any]) -> None:
        fields["type"] = "Task"
        arn = self.base.text(node, "resourceArn", path, required=True)
        pattern = node.get("pattern", "requestResponse")
        if not isinstance(pattern, str) or pattern not in PATTERNS:
            self.error(f"{path} > pattern", f"unknown pattern {_describe(pattern)}; expected one of "
                       f"{', '.join(PATTERNS)}{_suggest(str(pattern), PATTERNS)}", node, "pattern")
            pattern = "requestResponse"
        kind = resource_kind(arn) if arn else None
        if arn is not None and kind is None:
            self.error(f"{path} > resourceArn", f"unsupported resource {arn!r}; supported: a function "
                       "(acs:fc:{region}:{account}:services/{service}/functions/{name} or .../functions/{name}), "
                       "a flow (acs:fnf:{region}::flow/{name}) or a queue "
                       "(acs:mns:{region}:{account}:/queues/{name}/messages)", node, "resourceArn")
        mode = PATTERNS[pattern]
        if kind is not None:
            action, patterns = RESOURCES[kind]
            if pattern not in patterns:
                self.error(f"{path} > pattern", f"{arn} does not support pattern {pattern!r}; it supports "
                           f"{', '.join(patterns)}", node, "pattern")
            actions = self.base.actions
            if pattern in patterns and actions is not None and (action not in actions or mode not in actions[action]):
                self.error(f"{path} > resourceArn", f"this engine has no {action} integration with {mode}",
                           node, "resourceArn")
            fields["action"] = action
            v1.update(resource=kind, resource_arn=arn, pattern=pattern)
            v1["service_params"] = self.service_params(node, path, kind)
        fields["task_mode"] = mode
        fields["timeout"] = self.base.number(node, "timeoutSeconds", path, low=0, high=MAX_TASK_TIMEOUT) or None
        if pattern == "waitForCallback" and not fields["timeout"]:
            self.warning(path, "waitForCallback without 'timeoutSeconds': a lost callback leaves the execution "
                         "waiting until the execution times out", node)
        v1["error_mappings"] = self.mappings(node, "errorMappings", path, local_allowed=True)
        fields["retry"] = self.retry(node, path)
        fields["catch"] = self.catch(node, path, siblings)

    def service_params(self, node: CommentedMap, path: str, kind: str) -> tuple[tuple[str, Any], ...]:
        params = node.get("serviceParams")
        if params is None:
            if kind == "queue":
                self.error(path, "a queue task needs 'serviceParams' with 'MessageBody'", node)
            return ()
        ppath = f"{path} > serviceParams"
        if not isinstance(params, CommentedMap):
            self.error(ppath, f"expected a mapping, got {_describe(params)}", node, "serviceParams")
            return ()
        self.unknown(params, SERVICE_PARAMS[kind], ppath, "this resource's serviceParams")
        if kind == "queue" and "MessageBody" not in params:
            self.error(ppath, "missing required field 'MessageBody'", params)
        out: list[tuple[str, Any]] = []
        for key, value in params.items():
            if key not in SERVICE_PARAMS[kind]:
                continue
            if key == "InvocationType":
                if value not in ("Sync", "Async"):
                    self.error(f"{ppath} > {key}", f"expected Sync or Async, got {_describe(value)}", params, key)
                elif value == "Async" and node.get("pattern", "requestResponse") != "requestResponse":
                    self.error(f"{ppath} > {key}", "InvocationType: Async goes with pattern requestResponse only",
                               params, key)
                out.append((key, str(value)))
                continue
            if is_path(value):
                out.append((key, self.path_value(params, key, ppath)))
            else:
                out.append((key, to_plain(value)))
        return tuple(out)

    def retry(self, node: CommentedMap, path: str) -> tuple[RetryRule, ...]:
        items = node.get("retry")
        if items is None:
            return ()
        if not isinstance(items, CommentedSeq):
            self.error(f"{path} > retry", f"expected a list of retry policies, got {_describe(items)}", node, "retry")
            return ()
        rules = []
        for i, rule in enumerate(items):
            rpath = f"{path} > retry[{i}]"
            if not isinstance(rule, CommentedMap):
                self.error(rpath, f"a retry policy is a mapping, got {_describe(rule)}", items, i)
                continue
            self.unknown(rule, {"errors", "intervalSeconds", "maxAttempts", "multiplier", "maxIntervalSeconds"},
                         rpath, "a retry policy")
            errors = self.error_names(rule, rpath)
            interval = self.base.number(rule, "intervalSeconds", rpath, low=0, high=MAX_INTERVAL)
            cap = self.base.number(rule, "maxIntervalSeconds", rpath, low=0, high=MAX_INTERVAL)
            attempts = self.base.number(rule, "maxAttempts", rpath, low=0, integer=True)
            multiplier = self.base.number(rule, "multiplier", rpath, low=1)
            rules.append(RetryRule(errors=errors, max_attempts=int(attempts) if attempts is not None else 3,
                                   interval_seconds=interval if interval is not None else 1.0,
                                   backoff_rate=multiplier if multiplier is not None else 2.0,
                                   max_backoff_seconds=cap if cap is not None else float(MAX_INTERVAL)))
        return tuple(rules)

    def catch(self, node: CommentedMap, path: str, siblings: set[str]) -> tuple[CatchRule, ...]:
        items = node.get("catch")
        if items is None:
            return ()
        if not isinstance(items, CommentedSeq):
            self.error(f"{path} > catch", f"expected a list of catch rules, got {_describe(items)}", node, "catch")
            return ()
        rules = []
        for i, rule in enumerate(items):
            cpath = f"{path} > catch[{i}]"
            if not isinstance(rule, CommentedMap):
                self.error(cpath, f"a catch rule is a mapping, got {_describe(rule)}", items, i)
                continue
            self.unknown(rule, {"errors", "goto"}, cpath, "a catch rule")
            errors = self.error_names(rule, cpath)
            target = self.goto(rule, cpath, siblings, required=True)
            rules.append(CatchRule(errors=errors, next=target or "", output=None))
        return tuple(rules)

    def error_names(self, rule: CommentedMap, path: str) -> tuple[str, ...]:
        errors = rule.get("errors")
        if not isinstance(errors, list) or not errors or not all(isinstance(e, str) and e for e in errors):
            self.error(f"{path} > errors", "expected a non-empty list of error names", rule,
                       "errors" if "errors" in rule else None)
            return ()
        return tuple(str(e) for e in errors)

    def goto(self, node: CommentedMap, path: str, siblings: set[str], *, required: bool = False) -> str | None:
        if "goto" not in node:
            if required:
                self.error(path, "missing required field 'goto'", node)
            return None
        target = node["goto"]
        if not isinstance(target, str) or target not in siblings:
            self.error(f"{path} > goto", f"no step named {_describe(target)} in the same steps list"
                       f"{_suggest(str(target), siblings)}", node, "goto")
            return None
        return target

    def step_choice(self, node: CommentedMap, path: str, name: str, scope_key: str, siblings: set[str],
                    fields: dict[str, Any], v1: dict[str, Any]) -> None:
        fields["type"] = "Choice"
        options = node.get("choices")
        if not isinstance(options, CommentedSeq) or not options:
            self.error(f"{path} > choices", "expected a non-empty list of options {condition, steps, goto}", node,
                       "choices" if "choices" in node else None)
            return
        built = []
        for i, option in enumerate(options):
            opath = f"{path} > choices[{i}]"
            if not isinstance(option, CommentedMap):
                self.error(opath, f"an option is a mapping, got {_describe(option)}", options, i)
                continue
            self.unknown(option, {"condition", "steps", "goto"}, opath, "a choice option")
            condition = None
            text = option.get("condition")
            if not isinstance(text, str):
                self.error(f"{opath} > condition", "expected a condition (text) such as $.status == \"ok\"", option,
                           "condition" if "condition" in option else None)
            else:
                try:
                    condition = compile_condition(text)
                    if condition.uses_local:
                        self.error(f"{opath} > condition", "$local is not allowed in a condition: map it into the "
                                   "choice's input with inputMappings and test $.name", option, "condition")
                except V1SyntaxError as exc:
                    self.error(f"{opath} > condition", f"{exc.message} at position {exc.position} in {text!r}",
                               option, "condition")
            built.append(self.option(option, opath, name, scope_key, siblings, condition, f"#opt{i}"))
        v1["options"] = tuple(built)
        default = node.get("default")
        if default is not None:
            dpath = f"{path} > default"
            if not isinstance(default, CommentedMap):
                self.error(dpath, f"expected a mapping {{steps, goto}}, got {_describe(default)}", node, "default")
            else:
                self.unknown(default, {"steps", "goto"}, dpath, "a choice default")
                v1["default_option"] = self.option(default, dpath, name, scope_key, siblings, None, "#default")

    def option(self, node: CommentedMap, path: str, name: str, scope_key: str, siblings: set[str], condition: Any,
               suffix: str) -> V1Option:
        scope = self.steps(node, "steps", path, f"{scope_key}/{name}{suffix}", required=False) \
            if "steps" in node else None
        return V1Option(condition=condition, scope=scope, goto=self.goto(node, path, siblings))

    def step_parallel(self, node: CommentedMap, path: str, name: str, scope_key: str, siblings: set[str],
                      fields: dict[str, Any], v1: dict[str, Any]) -> None:
        fields["type"] = "Parallel"
        branches = node.get("branches")
        if not isinstance(branches, CommentedSeq) or not branches:
            self.error(f"{path} > branches", "expected a non-empty list of branches ({steps})", node,
                       "branches" if "branches" in node else None)
            return
        if len(branches) > MAX_BRANCHES:
            self.error(f"{path} > branches", f"at most {MAX_BRANCHES} branches, got {len(branches)}", node, "branches")
        scopes = []
        for i, branch in enumerate(branches):
            bpath = f"{path} > branches[{i}]"
            if not isinstance(branch, CommentedMap):
                self.error(bpath, f"a branch is a mapping with 'steps', got {_describe(branch)}", branches, i)
                continue
            self.unknown(branch, {"steps"}, bpath, "a branch")
            scope = self.steps(branch, "steps", bpath, f"{scope_key}/{name}#{i}", required=True)
            if scope is not None:
                scopes.append(scope)
        fields["branches"] = tuple(scopes)

    def step_foreach(self, node: CommentedMap, path: str, name: str, scope_key: str, siblings: set[str],
                     fields: dict[str, Any], v1: dict[str, Any]) -> None:
        fields["type"] = "Map"
        fields["max_concurrency"] = MAX_BRANCHES
        mapping = node.get("iterationMapping")
        mpath = f"{path} > iterationMapping"
        if not isinstance(mapping, CommentedMap):
            self.error(mpath, "expected {collection, item, index}", node,
                       "iterationMapping" if "iterationMapping" in node else None)
        else:
            self.unknown(mapping, {"collection", "item", "index"}, mpath, "an iterationMapping")
            if not is_path(mapping.get("collection")):
                self.error(f"{mpath} > collection", "expected a path to an array, such as $.items", mapping,
                           "collection" if "collection" in mapping else None)
            else:
                v1["collection"] = self.path_value(mapping, "collection", mpath)
            v1["item_key"] = self.base.text(mapping, "item", mpath, required=True) or ""
            v1["index_key"] = self.base.text(mapping, "index", mpath)
        fields["processor"] = self.steps(node, "steps", path, f"{scope_key}/{name}#map", required=True)

    # -- data ------------------------------------------------------------------------------------
    def path_value(self, node: CommentedMap, key: Any, path: str, *, local_allowed: bool = False) -> Path | None:
        text = node[key]
        where = f"{path} > {key}"
        try:
            compiled = compile_path(text)
        except V1SyntaxError as exc:
            self.error(where, f"{exc.message} at position {exc.position} in {text!r}", node, key)
            return None
        if compiled.root == "local" and not local_allowed:
            self.error(where, f"$local is not allowed here ({text!r}): only $input/$ (the step's input) and $context",
                       node, key)
            return None
        if compiled.root == "input":  # outside mappings, $input and $ both mean the step's input
            compiled = Path(compiled.source, "", compiled.segments)
        return compiled

    def mappings(self, node: CommentedMap, key: str, path: str, *, local_allowed: bool) -> Mapping | None:
        if key not in node:
            return None
        items = node[key]
        mpath = f"{path} > {key}" if path else key
        if not isinstance(items, CommentedSeq):
            self.error(mpath, f"expected a list of {{target, source}}, got {_describe(items)}", node, key)
            return None
        entries: list[tuple[str, Any]] = []
        uses_context = False
        for i, entry in enumerate(items):
            epath = f"{mpath}[{i}]"
            if not isinstance(entry, CommentedMap):
                self.error(epath, f"a mapping entry is {{target, source}}, got {_describe(entry)}", items, i)
                continue
            self.unknown(entry, {"target", "source"}, epath, "a mapping entry")
            target = entry.get("target")
            if not isinstance(target, str) or not target:
                self.error(epath, "missing required field 'target' (a key name)" if "target" not in entry
                           else f"'target' must be a non-empty key name, got {_describe(target)}", entry,
                           "target" if "target" in entry else None)
                continue
            if "source" not in entry:
                self.error(epath, "missing required field 'source' (a path such as $input.x, or a constant)", entry)
                continue
            source = entry["source"]
            if is_path(source):
                try:
                    compiled = compile_path(source)
                except V1SyntaxError as exc:
                    self.error(f"{epath} > source", f"{exc.message} at position {exc.position} in {source!r}",
                               entry, "source")
                    continue
                uses_context = uses_context or compiled.root == "context"
                entries.append((target, compiled))
            else:
                entries.append((target, to_plain(source)))
        return Mapping(tuple(entries), uses_context)


def parse_instant(value: Any) -> float | None:
    """An RFC 3339 instant (text or a YAML timestamp) → epoch seconds."""
    if isinstance(value, _dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=_dt.UTC)
        return moment.timestamp()
    if isinstance(value, _dt.date):
        return _dt.datetime(value.year, value.month, value.day, tzinfo=_dt.UTC).timestamp()
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = _dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if "T" not in text.upper() and " " not in text:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.UTC)
    return moment.timestamp()
