"""Loads FDL with ruamel.yaml (which keeps line and column of every node) and validates it.

Every problem is collected rather than raised at the first one, so a user fixes a definition
in one pass (up to ``MAX_PROBLEMS`` of them).

A definition is untrusted input: it is at most ``MAX_DEFINITION_BYTES``, and so is its form once
YAML aliases are expanded (measured without expanding them, so an alias bomb is refused at
once); it nests at most ``MAX_YAML_DEPTH`` deep. Validating any definition under these limits
takes well under a second.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from stateway.fdl._callbacks import CALLBACK_TASK_FIELDS, read_callback_fields
from stateway.fdl._distributed import map_mode, read_map_run
from stateway.fdl._fields import Check, FieldReader, _describe, _suggest
from stateway.fdl._model import (
    TASK_MODES,
    CatchRule,
    ChoiceBranch,
    Flow,
    FlowDefinitionError,
    Problem,
    RetryRule,
    Scope,
    State,
)
from stateway.fdl._wait_until import read_timestamp
from stateway.fdl._yaml_limits import MAX_DEFINITION_BYTES, MAX_YAML_DEPTH, _expanded_size, _prescan, _TooLarge, _yaml
from stateway.jsontext import bad_text

COMMON_FIELDS = {"Name", "Type", "Description", "Comment", "InputConstructor", "OutputConstructor", "GlobalConstructor",
                 "InputConstructor.$", "OutputConstructor.$"}  # '.$': Stateway's whole-value constructor
FLOW_FIELDS = {"Type", "SpecVersion", "Name", "Description", "StartAt", "States", "Timeout", "Comment"}
SCOPE_FIELDS = {"StartAt", "States", "Description", "Comment"}
TYPE_FIELDS: dict[str, set[str]] = {
    "Task": {"Action", "TaskMode", "Parameters", "Timeout", "Timeout.$", "Retry", "Catch", "Next", "End",
             *CALLBACK_TASK_FIELDS},
    "Pass": {"Next", "End"},
    "Wait": {"Seconds", "Seconds.$", "Timestamp", "Timestamp.$", "Next", "End"},
    "Choice": {"Branches", "Default"},
    "Parallel": {"Branches", "Retry", "Catch", "Next", "End"},
    "Map": {
        "ItemsPath", "Processor", "MaxConcurrency", "MaxConcuccency", "ItemConstructor", "ItemConstructor.$",
        "Retry", "Catch", "Next", "End",
        # distributed mode: recognised so that the error says what is missing, not "unknown field"
        "ProcessorConfig", "ItemReader", "ItemBatcher", "ResultWriter",
        "ToleratedFailurePercentage", "ToleratedFailureCount", "ExecutionMode", "MaxItems",
        "MaxConcurrency.$", "MaxConcuccency.$", "ToleratedFailurePercentage.$", "ToleratedFailureCount.$",
    },
    "Succeed": {"End"},
    "Fail": {"Code", "Detail", "End"},
}
RETRY_FIELDS = {"Errors", "Description", "MaxAttempts", "IntervalSeconds", "BackoffRate", "MaxBackoffSeconds"}
CATCH_FIELDS = {"Errors", "Description", "Next", "OutputConstructor"}
MAX_TASK_TIMEOUT = 604800
MAX_PARALLEL_BRANCHES = 50
MAX_GLOBAL_KEY_BYTES = 128  # fdl.md §3.5

_OLDER_DIALECT = re.compile(r"""^(?:version|steps|type[ \t]*:[ \t]*["']?flow\b)|^\{?\s*"version"\s*:""", re.M)


def canonical_action(action: str) -> str:
    """``FC::InvokeFunction`` and ``FC:InvokeFunction`` are the same action."""
    return re.sub(r"::+", ":", action.strip())


class _Loader(FieldReader):
    # -- document -------------------------------------------------------------------
    def load(self) -> Flow | None:
        if len(self.source) > MAX_DEFINITION_BYTES // 4 and len(self.source.encode(errors="replace")) > \
                MAX_DEFINITION_BYTES:
            self.problems.append(Problem("error", "", f"the definition is over {MAX_DEFINITION_BYTES} bytes", 0, 0))
            return None
        if bad_text(self.source):
            self.problems.append(Problem("error", "", "the definition is not valid Unicode text (a lone surrogate)",
                                         0, 0))
            return None
        try:
            _prescan(self.source, MAX_DEFINITION_BYTES)
        except _TooLarge as exc:
            self.problems.append(Problem("error", "", str(exc), 0, 0))
            return None
        if _OLDER_DIALECT.search(self.source):  # older-dialect flows are often long: parse them with libyaml
            from stateway.fdl._fastyaml import FastYAMLError
            from stateway.fdl._fastyaml import load as fast_load

            try:
                doc = fast_load(self.source)
            except FastYAMLError as exc:
                self.problems.append(Problem("error", "", f"not valid YAML: {exc.message}", exc.line, exc.column))
                return None
        else:
            doc = self._load_yaml()
        if doc is None and self.problems:
            return None
        try:
            _expanded_size(doc, MAX_DEFINITION_BYTES)
        except _TooLarge as exc:
            self.problems.append(Problem("error", "", str(exc), 0, 0))
            return None
        return self._load_document(doc)

    def _load_yaml(self) -> Any:
        try:
            return _yaml().load(io.StringIO(self.source))
        except MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
            problem = exc.problem or exc.context or "invalid YAML"
            self.problems.append(Problem("error", "", f"not valid YAML: {problem}", line, col))
            return None
        except RecursionError:
            self.problems.append(Problem("error", "", f"the definition nests more than {MAX_YAML_DEPTH} deep", 0, 0))
            return None
        except Exception as exc:  # ruamel raises a few unmarked errors (e.g. duplicate keys)
            self.problems.append(Problem("error", "", f"not valid YAML: {exc}", 0, 0))
            return None

    def _load_document(self, doc: Any) -> Flow | None:
        if not isinstance(doc, CommentedMap):
            self.problems.append(Problem("error", "", f"a flow definition is a mapping, got {_describe(doc)}", 1, 1))
            return None
        if "version" in doc or "steps" in doc or doc.get("type") == "flow":
            from stateway.fdl._v1 import V1Loader  # the older dialect (fdl-v1.md)

            return V1Loader(self).load(doc)
        self.unknown_fields(doc, FLOW_FIELDS, "", "a flow")
        kind = doc.get("Type")
        if kind != "StateMachine":
            if "Type" in doc:
                self.error("Type", f"expected 'StateMachine', got {_describe(kind)}", doc, "Type")
            else:
                self.error("", "missing required field 'Type' (StateMachine)", doc)
        spec = doc.get("SpecVersion")
        if spec != "v1":
            if "SpecVersion" in doc:
                self.error("SpecVersion", f"expected 'v1', got {_describe(spec)}", doc, "SpecVersion")
            else:
                self.error("", "missing required field 'SpecVersion' (v1)", doc)
        name = self.text(doc, "Name", "") if "Name" in doc else None
        self.doc_name = name
        description = doc.get("Description") if isinstance(doc.get("Description"), str) else None
        timeout = self.number(doc, "Timeout", "", low=0)
        root = self.scope(doc, "", "")
        if root is None or self.errors:
            return None
        return Flow(
            name=name,
            description=description,
            timeout=timeout or None,
            root=root,
            scopes=self.scopes,
            warnings=tuple(p for p in self.problems if p.severity == "warning"),
            source=self.source,
        )

    def scope(self, node: CommentedMap, path: str, key: str) -> Scope | None:
        prefix = f"{path} > " if path else ""
        start_at = self.text(node, "StartAt", path, required=True)
        states_node = node.get("States")
        if states_node is None:
            self.error(path, "missing required field 'States'", node)
            return None
        if not isinstance(states_node, CommentedSeq):
            self.error(f"{prefix}States", f"expected a list of states, got {_describe(states_node)}", node, "States")
            return None
        if len(states_node) == 0:
            self.error(f"{prefix}States", "a scope needs at least one state", node, "States")
            return None
        states: dict[str, State] = {}
        nodes: dict[str, tuple[CommentedMap, str]] = {}
        for i, state_node in enumerate(states_node):
            spath = f"{prefix}States[{i}]"
            if not isinstance(state_node, CommentedMap):
                self.error(spath, f"a state is a mapping, got {_describe(state_node)}", states_node, i)
                continue
            name = state_node.get("Name")
            if not isinstance(name, str) or not name:
                self.error(spath, "missing required field 'Name'" if "Name" not in state_node
                           else f"'Name' must be non-empty text, got {_describe(name)}", state_node)
                continue
            spath = f'{spath} "{name}"'
            if name in states or name in nodes:
                self.error(spath, f"duplicate state name {name!r} in this scope", state_node, "Name")
                continue
            state = self.state(state_node, spath, name, key)
            nodes[name] = (state_node, spath)
            if state is not None:
                states[name] = state
        names = set(nodes)
        if start_at is not None and start_at not in names:
            self.error(f"{prefix}StartAt", f"no state named {start_at!r} in this scope{_suggest(start_at, names)}",
                       node, "StartAt")
        for state_node, spath in nodes.values():
            self.check_targets(state_node, spath, names)
        if start_at is not None and start_at in names:
            self.check_reachable(start_at, nodes)
        scope = Scope(key=key, start_at=start_at or "", states=states)
        self.scopes[key] = scope
        return scope

    def check_targets(self, node: CommentedMap, path: str, names: set[str]) -> None:
        def check(container: Any, field: str, fpath: str) -> None:
            target = container.get(field)
            if isinstance(target, str) and target not in names:
                self.error(fpath, f"no state named {target!r} in this scope{_suggest(target, names)}", container, field)

        check(node, "Next", f"{path} > Next")
        check(node, "Default", f"{path} > Default")
        if node.get("Type") == "Choice" and isinstance(node.get("Branches"), list):
            for i, branch in enumerate(node["Branches"]):
                if isinstance(branch, CommentedMap):
                    check(branch, "Next", f"{path} > Branches[{i}] > Next")
        if isinstance(node.get("Catch"), list):
            for i, rule in enumerate(node["Catch"]):
                if isinstance(rule, CommentedMap):
                    check(rule, "Next", f"{path} > Catch[{i}] > Next")

    def check_reachable(self, start: str, nodes: dict[str, tuple[CommentedMap, str]]) -> None:
        seen: set[str] = set()
        todo = [start]
        while todo:
            name = todo.pop()
            if name in seen or name not in nodes:
                continue
            seen.add(name)
            node = nodes[name][0]
            for target in (node.get("Next"), node.get("Default")):
                if isinstance(target, str):
                    todo.append(target)
            for listing in ("Branches", "Catch"):
                items = node.get(listing)
                if isinstance(items, list) and (listing == "Catch" or node.get("Type") == "Choice"):
                    todo.extend(i["Next"] for i in items if isinstance(i, dict) and isinstance(i.get("Next"), str))
        for name, (node, path) in nodes.items():
            if name not in seen:
                self.warning(path, f"state {name!r} cannot be reached from StartAt", node)

    # -- states ------------------------------------------------------------------
    def state(self, node: CommentedMap, path: str, name: str, scope_key: str) -> State | None:
        kind = node.get("Type")
        if not isinstance(kind, str) or kind not in TYPE_FIELDS:  # a list or mapping is not hashable
            if "Type" not in node:
                self.error(path, "missing required field 'Type'", node)
            else:
                self.error(f"{path} > Type", f"unknown state type {_describe(kind)}; expected one of "
                           f"{', '.join(TYPE_FIELDS)}{_suggest(str(kind), TYPE_FIELDS)}", node, "Type")
            return None
        errors_before = self.errors
        self.unknown_fields(node, COMMON_FIELDS | TYPE_FIELDS[kind], path, f"a {kind} state")
        fields: dict[str, Any] = {"name": name, "type": kind, "path": path}
        self.transition(node, path, kind, fields)
        fields["input_constructor"] = self.template(node, "InputConstructor", path)
        if kind != "Choice":
            fields["output_constructor"] = self.template(node, "OutputConstructor", path)
        elif "OutputConstructor" in node:  # fdl.md §2: a Choice passes its input on unchanged
            self.error(f"{path} > OutputConstructor", "a Choice state has no OutputConstructor; its output is its "
                       "input (shape it with an InputConstructor, or in the next state)", node, "OutputConstructor")
        fields["global_constructor"] = self.template(node, "GlobalConstructor", path)
        global_node = node.get("GlobalConstructor")
        if isinstance(global_node, dict):
            for gkey in global_node:
                name_ = str(gkey)[:-2] if str(gkey).endswith(".$") else str(gkey)
                if len(name_.encode(errors="replace")) > MAX_GLOBAL_KEY_BYTES:
                    self.error(f"{path} > GlobalConstructor > {name_[:40]}…", f"a $Global key is at most "
                               f"{MAX_GLOBAL_KEY_BYTES} bytes, this one is {len(name_.encode(errors='replace'))}",
                               global_node, gkey)
        getattr(self, f"state_{kind.lower()}")(node, path, name, scope_key, fields)
        if self.errors > errors_before:
            return None
        return State(**fields)

    def transition(self, node: CommentedMap, path: str, kind: str, fields: dict[str, Any]) -> None:
        if kind == "Choice":
            return
        has_next, end = "Next" in node, node.get("End")
        if "End" in node and not isinstance(end, bool):
            self.error(f"{path} > End", f"expected true or false, got {_describe(end)}", node, "End")
            return
        if kind in ("Succeed", "Fail"):
            fields["end"] = True
            return
        if has_next and end:
            self.error(path, "a state has either 'Next' or 'End: true', not both", node, "End")
        elif has_next:
            fields["next"] = self.text(node, "Next", path)
        elif end:
            fields["end"] = True
        else:
            self.error(path, "missing 'Next' or 'End: true'", node)

    def rules(self, node: CommentedMap, path: str, fields: dict[str, Any]) -> None:
        retry: list[RetryRule] = []
        if "Retry" in node:
            items = node["Retry"]
            if not isinstance(items, list):
                self.error(f"{path} > Retry", f"expected a list of retry rules, got {_describe(items)}", node, "Retry")
            else:
                for i, rule in enumerate(items):
                    rpath = f"{path} > Retry[{i}]"
                    if not isinstance(rule, CommentedMap):
                        self.error(rpath, f"a retry rule is a mapping, got {_describe(rule)}", items, i)
                        continue
                    self.unknown_fields(rule, RETRY_FIELDS, rpath, "a retry rule")
                    errors = self.error_names(rule, rpath)
                    attempts = self.number(rule, "MaxAttempts", rpath, low=0, integer=True)
                    interval = self.number(rule, "IntervalSeconds", rpath, low=0)
                    backoff = self.number(rule, "BackoffRate", rpath, low=1)
                    max_backoff = self.number(rule, "MaxBackoffSeconds", rpath, low=0)
                    retry.append(RetryRule(
                        errors=errors,
                        max_attempts=int(attempts) if attempts is not None else 3,
                        interval_seconds=interval if interval is not None else 1.0,
                        backoff_rate=backoff if backoff is not None else 1.0,
                        max_backoff_seconds=max_backoff,
                    ))
        catch: list[CatchRule] = []
        if "Catch" in node:
            items = node["Catch"]
            if not isinstance(items, list):
                self.error(f"{path} > Catch", f"expected a list of catch rules, got {_describe(items)}", node, "Catch")
            else:
                for i, rule in enumerate(items):
                    cpath = f"{path} > Catch[{i}]"
                    if not isinstance(rule, CommentedMap):
                        self.error(cpath, f"a catch rule is a mapping, got {_describe(rule)}", items, i)
                        continue
                    self.unknown_fields(rule, CATCH_FIELDS, cpath, "a catch rule")
                    errors = self.error_names(rule, cpath)
                    target = self.text(rule, "Next", cpath, required=True)
                    catch.append(CatchRule(errors=errors, next=target or "",
                                           output=self.template(rule, "OutputConstructor", cpath)))
        fields["retry"] = tuple(retry)
        fields["catch"] = tuple(catch)

    def error_names(self, rule: CommentedMap, path: str) -> tuple[str, ...]:
        errors = rule.get("Errors")
        if not isinstance(errors, list) or not errors or not all(isinstance(e, str) and e for e in errors):
            self.error(f"{path} > Errors", "expected a non-empty list of error names", rule,
                       "Errors" if "Errors" in rule else None)
            return ()
        return tuple(str(e) for e in errors)

    def state_task(self, node: CommentedMap, path: str, name: str, scope_key: str, fields: dict[str, Any]) -> None:
        action = self.text(node, "Action", path, required=True)
        mode = node.get("TaskMode", "RequestComplete")
        if mode not in TASK_MODES:
            self.error(f"{path} > TaskMode", f"unknown TaskMode {_describe(mode)}; expected one of "
                       f"{', '.join(TASK_MODES)}{_suggest(str(mode), TASK_MODES)}", node, "TaskMode")
        if action is not None:
            action = canonical_action(action)
            if self.actions is not None:
                if action not in self.actions:
                    self.error(f"{path} > Action", f"unknown action {action!r}; known actions: "
                               f"{', '.join(sorted(self.actions))}{_suggest(action, self.actions)}", node, "Action")
                elif mode in TASK_MODES and mode not in self.actions[action]:
                    modes = [m for m in TASK_MODES if m in self.actions[action]]
                    self.error(f"{path} > TaskMode", f"action {action!r} does not support {mode}; "
                               f"it supports {', '.join(modes)}", node, "TaskMode")
        fields["action"] = action
        fields["task_mode"] = mode
        if "Parameters" in node:
            fields["parameters"] = self.template(node, "Parameters", path)
            self.check_parameters(node["Parameters"], f"{path} > Parameters", action)
        if "Timeout" in node and "Timeout.$" in node:
            self.error(path, "give either 'Timeout' or 'Timeout.$', not both", node, "Timeout.$")
        fields["timeout"] = self.number(node, "Timeout", path, low=0, high=MAX_TASK_TIMEOUT) or None
        if "Timeout.$" in node:
            fields["timeout_expr"] = self.expression(node, "Timeout.$", path)
        if mode == "WaitForCustomCallback" and not fields["timeout"] and "Timeout.$" not in node:
            self.warning(path, "WaitForCustomCallback without 'Timeout': a lost callback leaves the execution "
                         "waiting until the execution times out", node)
        read_callback_fields(self, node, path, mode, fields)
        self.rules(node, path, fields)

    def check_parameters(self, params: Any, path: str, action: str | None) -> None:
        """Names an action does not read are warnings: a typo there would otherwise pass silently."""
        check = self.checks.get(action or "")
        if check is not None and isinstance(params, CommentedMap):
            for key, message in check(params):
                self.error(f"{path} > {key}", message, params, key if key in params else None)
        known = self.parameters.get(action or "")
        if known is None or not isinstance(params, CommentedMap):
            return
        for key in params:
            name = str(key)
            base = name[:-2] if name.endswith(".$") else name
            if base not in known:
                self.warning(f"{path} > {name}", f"unknown parameter {name!r} for {action} (it reads "
                             f"{', '.join(sorted(known))}){_suggest(base, known)}", params, key)

    def state_pass(self, node: CommentedMap, path: str, name: str, scope_key: str, fields: dict[str, Any]) -> None:
        pass

    def state_succeed(self, node: CommentedMap, path: str, name: str, scope_key: str, fields: dict[str, Any]) -> None:
        pass

    def state_fail(self, node: CommentedMap, path: str, name: str, scope_key: str, fields: dict[str, Any]) -> None:
        fields["code"] = self.text(node, "Code", path) or "FnF.Failed"
        detail = node.get("Detail")
        fields["detail"] = "" if detail is None else str(detail)

    def state_wait(self, node: CommentedMap, path: str, name: str, scope_key: str, fields: dict[str, Any]) -> None:
        given = [key for key in ("Seconds", "Seconds.$", "Timestamp", "Timestamp.$") if key in node]
        if len(given) != 1:
            self.error(path, "a Wait state needs exactly one of 'Seconds', 'Seconds.$', 'Timestamp' or 'Timestamp.$'"
                       + (f", got {', '.join(given)}" if given else ""), node)
            return
        if "Timestamp" in given or "Timestamp.$" in given:
            read_timestamp(self, node, path, fields)
        elif "Seconds" in node:
            fields["seconds"] = self.number(node, "Seconds", path, low=0, integer=True)
        else:
            fields["seconds_expr"] = self.expression(node, "Seconds.$", path)

    def state_choice(self, node: CommentedMap, path: str, name: str, scope_key: str, fields: dict[str, Any]) -> None:
        for forbidden in ("Next", "End"):
            if forbidden in node:
                self.error(f"{path} > {forbidden}", f"a Choice state has no {forbidden!r}; use 'Branches' and "
                           "'Default'", node, forbidden)
        fields["default"] = self.text(node, "Default", path, required=True)
        branches = node.get("Branches")
        if not isinstance(branches, list) or not branches:
            self.error(f"{path} > Branches", "expected a non-empty list of {Condition, Next}", node,
                       "Branches" if "Branches" in node else None)
            return
        choices: list[ChoiceBranch] = []
        for i, branch in enumerate(branches):
            bpath = f"{path} > Branches[{i}]"
            if not isinstance(branch, CommentedMap):
                self.error(bpath, f"expected a mapping with Condition and Next, got {_describe(branch)}", branches, i)
                continue
            self.unknown_fields(branch, {"Condition", "Next", "Description"}, bpath, "a Choice branch")
            target = self.text(branch, "Next", bpath, required=True)
            if not isinstance(branch.get("Condition"), str):
                self.error(f"{bpath} > Condition", "expected a condition expression (text)", branch,
                           "Condition" if "Condition" in branch else None)
                continue
            condition = self.expression(branch, "Condition", bpath)
            if condition is not None and target is not None:
                choices.append(ChoiceBranch(condition, target))
        fields["choices"] = tuple(choices)

    def state_parallel(self, node: CommentedMap, path: str, name: str, scope_key: str, fields: dict[str, Any]) -> None:
        branches = node.get("Branches")
        if not isinstance(branches, list) or not branches:
            self.error(f"{path} > Branches", "expected a non-empty list of branches ({StartAt, States})", node,
                       "Branches" if "Branches" in node else None)
            return
        if len(branches) > MAX_PARALLEL_BRANCHES:
            self.error(f"{path} > Branches", f"at most {MAX_PARALLEL_BRANCHES} branches, got {len(branches)}",
                       node, "Branches")
        scopes: list[Scope] = []
        for i, branch in enumerate(branches):
            bpath = f"{path} > Branches[{i}]"
            if not isinstance(branch, CommentedMap):
                self.error(bpath, f"a branch is a mapping with StartAt and States, got {_describe(branch)}", branches, i)
                continue
            self.unknown_fields(branch, SCOPE_FIELDS, bpath, "a branch")
            scope = self.scope(branch, bpath, f"{scope_key}/{name}#{i}")
            if scope is not None:
                scopes.append(scope)
        fields["branches"] = tuple(scopes)
        self.rules(node, path, fields)

    def state_map(self, node: CommentedMap, path: str, name: str, scope_key: str, fields: dict[str, Any]) -> None:
        mode = map_mode(self, node, path)
        if "ExecutionMode" in node:
            self.error(f"{path} > ExecutionMode", "ExecutionMode belongs under ProcessorConfig", node, "ExecutionMode")
        if "ItemReader" in node and mode not in (None, "inline"):
            pass  # the items come from files (checked with the other distributed fields)
        elif "ItemsPath" not in node or not isinstance(node["ItemsPath"], str):
            self.error(f"{path} > ItemsPath", "expected an expression giving an array, e.g. $Input.items", node,
                       "ItemsPath" if "ItemsPath" in node else None)
        else:
            fields["items_path"] = self.expression(node, "ItemsPath", path)
        if "MaxConcurrency" in node and "MaxConcuccency" in node:
            self.error(path, "give 'MaxConcurrency' once (MaxConcuccency is the same field)", node, "MaxConcuccency")
        for spelling in ("MaxConcurrency", "MaxConcuccency"):
            if spelling in node:
                value = self.number(node, spelling, path, low=0, integer=True)
                fields["max_concurrency"] = int(value or 0)
        dynamic = [key for key in ("MaxConcurrency.$", "MaxConcuccency.$") if key in node]
        if dynamic:  # fdl.md §3.3: a scalar field can be dynamic
            if len(dynamic) > 1 or "MaxConcurrency" in node or "MaxConcuccency" in node:
                self.error(path, "give either 'MaxConcurrency' or 'MaxConcurrency.$', not both", node, dynamic[0])
            elif mode in (None, "inline"):
                fields["max_concurrency_expr"] = self.expression(node, dynamic[0], path)
        fields["item_constructor"] = self.template(node, "ItemConstructor", path)
        processor = node.get("Processor")
        if not isinstance(processor, CommentedMap):
            self.error(f"{path} > Processor", "expected a scope ({StartAt, States})", node,
                       "Processor" if "Processor" in node else None)
        else:
            self.unknown_fields(processor, SCOPE_FIELDS, f"{path} > Processor", "a Processor")
            fields["processor"] = self.scope(processor, f"{path} > Processor", f"{scope_key}/{name}#map")
        if mode not in (None, "inline"):
            flow_name = self.doc_name if isinstance(self.doc_name, str) else None
            fields["map_run"] = read_map_run(self, node, path, mode, flow_name, fields.get("max_concurrency", 0))
        self.rules(node, path, fields)


def validate_flow(source: str, actions: Mapping[str, frozenset[str]] | None = None,
                  parameters: Mapping[str, frozenset[str]] | None = None,
                  checks: Mapping[str, Check] | None = None) -> list[Problem]:
    """Every error and warning of ``source``; an empty list for a clean definition.

    ``parameters`` maps an action to the Parameters it reads; others are warnings. ``checks`` maps an
    action to a function of its Parameters giving (parameter, message) errors."""
    loader = _Loader(source, actions, parameters, checks)
    loader.load()
    return loader.problems


def load_flow(source: str, actions: Mapping[str, frozenset[str]] | None = None,
              parameters: Mapping[str, frozenset[str]] | None = None, checks: Mapping[str, Check] | None = None) -> Flow:
    """Load and validate; raises FlowDefinitionError listing every problem when there is an error.

    ``actions`` maps each known action to the TaskModes it supports; without it, any action
    name is accepted (useful for tools that only check structure).
    """
    if not isinstance(source, str):
        raise FlowDefinitionError([Problem("error", "", "a flow definition is text", 0, 0)])
    loader = _Loader(source, actions, parameters, checks)
    flow = loader.load()
    if flow is None:
        raise FlowDefinitionError(loader.problems)
    return flow
