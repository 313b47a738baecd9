"""Runs every example of the language guides (docs/language.md, docs/language-v1.md) through the engine.

An example starts at a line ``<!-- example: NAME -->`` and takes the fenced blocks after it, up to
and including its ``json`` block:

- the first ``yaml`` block is the flow;
- a ``yaml`` block whose first line is ``# flows/NAME.yaml`` is a child flow registered as NAME;
- a ``python`` block whose first line is ``# functions/NAME.py`` is a local function;
- the ``json`` block says how to run it and what must come out: ``input``, ``drive`` (steps taken
  while it runs, as in tests/conformance/cases/README.md), ``limits``, ``http`` (a local HTTP
  server for the flow to call), and the expected ``status`` (default Succeeded), ``output``,
  ``output_has``, ``error``, ``cause``, ``cause_contains``.

Examples of the older dialect are skipped only while the loader still refuses that dialect with
its "not supported yet" error, so they start running by themselves once the dialect is there.
"""

from __future__ import annotations

import http.server
import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from stateway.expr._functions import FUNCTIONS
from stateway.fdl import FlowDefinitionError
from tests.conformance.harness import RuntimeDriver, drive

ROOT = Path(__file__).resolve().parent.parent
GUIDES = {"language": ROOT / "docs" / "language.md", "language-v1": ROOT / "docs" / "language-v1.md"}
V1_NOT_SUPPORTED = "the older FnF dialect ('version'/'steps') is not supported yet"
HTTP_PLACEHOLDER = "127.0.0.1:8080"  # the examples' HTTP server; the test starts one and points the flow at it

_MARKER = re.compile(r"^<!-- example: ([A-Za-z0-9_-]+) -->\s*$")
_FENCE = re.compile(r"^```(\w*)")
_RUN_KEYS = {"input", "drive", "limits", "http", "status", "output", "output_has", "error", "cause",
             "cause_contains"}


@dataclass
class Example:
    guide: str
    name: str
    line: int
    flow: str = ""
    children: dict[str, str] = field(default_factory=dict)
    functions: dict[str, str] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)


def parse_guide(guide: str) -> list[Example]:
    lines = GUIDES[guide].read_text().splitlines()
    examples: list[Example] = []
    current: Example | None = None
    i = 0
    while i < len(lines):
        marker = _MARKER.match(lines[i])
        if marker:
            assert current is None, f"{guide}.md:{i + 1}: example {marker.group(1)} starts before " \
                                    f"{current.name if current else ''} has its json block"
            current = Example(guide, marker.group(1), i + 1)
            i += 1
            continue
        fence = _FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        start = i
        i += 1
        body: list[str] = []
        while not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        i += 1
        if current is None:
            continue
        text = "\n".join(body) + "\n"
        first = body[0].strip() if body else ""
        where = f"{guide}.md:{start + 1}: example {current.name}"
        kind = fence.group(1)
        if kind == "yaml" and (m := re.fullmatch(r"# flows/([\w-]+)\.yaml", first)):
            current.children[m.group(1)] = text
        elif kind == "yaml":
            assert not current.flow, f"{where}: a second flow block (a child flow starts with '# flows/NAME.yaml')"
            current.flow = text
        elif kind == "python":
            m = re.fullmatch(r"# functions/(\w+)\.py", first)
            assert m, f"{where}: a function block starts with '# functions/NAME.py'"
            current.functions[m.group(1)] = text
        elif kind == "json":
            current.run = json.loads(text)
            unknown = set(current.run) - _RUN_KEYS
            assert not unknown, f"{where}: unknown keys {unknown} in the run block"
            assert current.flow, f"{where}: no flow block"
            examples.append(current)
            current = None
        else:
            raise AssertionError(f"{where}: unexpected ```{kind} block inside an example")
    assert current is None, f"{guide}.md: example {current.name if current else ''} has no json block"
    names = [e.name for e in examples]
    assert len(names) == len(set(names)), f"{guide}.md: example names repeat: {names}"
    return examples


EXAMPLES = [e for guide in GUIDES for e in parse_guide(guide)]


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


def _http_server(spec: dict[str, Any]) -> _Server:
    """Answers every request with spec's status and body; the body may quote the request with
    {method}, {path} and {body}."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            received = self.rfile.read(length).decode() if length else ""
            text = spec.get("body", "").replace("{method}", self.command).replace("{path}", self.path) \
                .replace("{body}", received)
            data = text.encode()
            self.send_response(int(spec.get("status", 200)))
            self.send_header("Content-Type", spec.get("content_type", "application/json"))
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = _Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _name_of(flow: str, fallback: str) -> str:
    m = re.search(r"^[Nn]ame:\s*(\S+)\s*$", flow, re.M)
    return m.group(1) if m else fallback


def run_example(example: Example, memory_runtime: Any) -> Any:
    run = example.run
    server = _http_server(run["http"]) if "http" in run else None
    settings: dict[str, Any] = {"limits": run["limits"]} if "limits" in run else {}
    runtime = memory_runtime(example.functions, **settings)

    def point(text: str) -> str:
        return text.replace(HTTP_PLACEHOLDER, f"127.0.0.1:{server.server_address[1]}") if server else text

    try:
        try:
            for child, source in example.children.items():
                runtime.register_flow(child, point(source))
            name = _name_of(example.flow, example.name)
            runtime.register_flow(name, point(example.flow))
        except FlowDefinitionError as exc:
            if example.guide == "language-v1" and V1_NOT_SUPPORTED in str(exc):
                pytest.skip("the loader does not accept the older dialect yet")
            raise
        row = runtime.start_execution(name, run.get("input") or {}, "guide")
        drive(RuntimeDriver(runtime, row.id), run.get("drive") or [])
        return runtime.wait(row.id, 60)
    finally:
        if server:
            server.shutdown()


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"{e.guide}:{e.name}" for e in EXAMPLES])
def test_example_runs_as_the_guide_says(example, memory_runtime):
    run = example.run
    row = run_example(example, memory_runtime)
    got = {"status": row.status, "output": row.output, "error": row.error, "cause": row.cause}
    where = f"docs/{example.guide}.md:{example.line}: example {example.name}: got {got}"
    assert row.status == run.get("status", "Succeeded"), where
    if "output" in run:
        assert row.output == run["output"], where
    for key, value in (run.get("output_has") or {}).items():
        assert isinstance(row.output, dict) and row.output.get(key) == value, where
    if "error" in run:
        assert row.error == run["error"], where
    if "cause" in run:
        assert (row.cause or "") == run["cause"], where
    if "cause_contains" in run:
        assert run["cause_contains"] in (row.cause or ""), where


def _flows(guide: str) -> str:
    return "\n".join(e.flow + "".join(e.children.values()) for e in EXAMPLES if e.guide == guide)


def test_both_guides_have_examples():
    for guide in GUIDES:
        assert sum(e.guide == guide for e in EXAMPLES) >= 8, f"docs/{guide}.md has too few runnable examples"


def test_every_state_type_mode_and_action_has_a_runnable_example():
    flows = _flows("language")
    for state_type in ("Pass", "Task", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map"):
        assert re.search(rf"Type: {state_type}\b", flows), f"no example of a {state_type} state"
    for mode in ("WaitForSystemCallback", "WaitForCustomCallback"):
        assert f"TaskMode: {mode}" in flows, f"no example of {mode}"
    for action in ("FC:InvokeFunction", "FNF:StartExecution", "MNS:SendMessage", "HTTP:Request"):
        assert f"Action: {action}" in flows, f"no example of {action}"
    for field_name in ("InputConstructor", "OutputConstructor", "GlobalConstructor", "ItemConstructor", "ItemsPath",
                       "Retry", "Catch", "Seconds.$", "Timeout"):
        assert field_name in flows, f"no example uses {field_name}"


def test_every_built_in_function_has_a_runnable_example():
    flows = _flows("language")
    missing = [name for name in FUNCTIONS if not re.search(rf"\b{name}\(", flows)]
    assert not missing, f"built-in functions without a runnable example in docs/language.md: {missing}"


def test_every_step_type_of_the_older_dialect_has_an_example():
    flows = _flows("language-v1")
    for step_type in ("task", "pass", "choice", "parallel", "foreach", "wait", "succeed", "fail"):
        assert re.search(rf"type: {step_type}\b", flows), f"no example of a {step_type} step"
    for pattern in ("sync", "waitForCallback"):
        assert f"pattern: {pattern}" in flows, f"no example of pattern {pattern}"


CLI_EXAMPLES = ["language:child-flow", "language:approval", "language-v1:v1-child-flow"]


@pytest.mark.parametrize("key", CLI_EXAMPLES)
def test_example_runs_with_stateway_run_as_section_1_says(key, tmp_path):
    """The guide's own recipe: flow.yaml, functions/, flows/, then `stateway run`."""
    import subprocess
    import sys

    from tests.conformance.harness import CliDriver, free_port

    example = next(e for e in EXAMPLES if f"{e.guide}:{e.name}" == key)
    (tmp_path / "functions").mkdir()
    (tmp_path / "flows").mkdir()
    for name, source in example.functions.items():
        (tmp_path / "functions" / f"{name}.py").write_text(source)
    for name, source in example.children.items():
        (tmp_path / "flows" / f"{name}.yaml").write_text(source)
    (tmp_path / "flow.yaml").write_text(example.flow)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "stateway.cli", "run", "flow.yaml", "--input", json.dumps(example.run.get("input") or {}),
         "--functions", "functions", "--flows", "flows", "--json", "--db", "run.db", "--port", str(port),
         "--name", "guide"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        steps = example.run.get("drive") or []
        if steps:
            drive(CliDriver(tmp_path / "run.db", f"127.0.0.1:{port}", _name_of(example.flow, "flow"), "guide"), steps)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    result = json.loads(stdout.strip().splitlines()[-1])
    assert result["status"] == example.run.get("status", "Succeeded"), stderr
    assert result["output"] == example.run["output"], stderr
