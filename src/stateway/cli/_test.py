"""``stateway test``: one flow, one test case of a mock file, on the test engine (virtual clock, mocked
services). For teams that keep their flow tests in YAML rather than Python."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from stateway.fdl import FlowDefinitionError


def _json_option(value: str | None, what: str) -> Any:
    if value is None:
        return None
    text = Path(value[1:]).read_text() if value.startswith("@") else value
    try:
        return json.loads(text)
    except ValueError as exc:
        raise click.UsageError(f"{what} is not JSON: {exc}") from None


@click.command("test")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--mocks", "mocks_file", type=click.Path(exists=True, dir_okay=False),
              help="Step Functions Local-style mock configuration (YAML or JSON)")
@click.option("--case", "case", help="the test case under StateMachines.<flow>.TestCases (default: the only one)")
@click.option("--input", "input_", help="the execution input: JSON text, or @file.json")
@click.option("--flows", "flows_dir", type=click.Path(exists=True, file_okay=False), help="child flows, *.yaml")
@click.option("--functions", "functions_dir", type=click.Path(exists=True, file_okay=False),
              help="run unmocked FC functions from this directory (as stateway run does) instead of failing")
@click.option("--expect-status", default="Succeeded", show_default=True, help="the status the test expects")
@click.option("--expect-path", help="comma-separated top-level states the execution must enter, in this order")
@click.option("--nested", is_flag=True, help="--expect-path lists the states inside Parallel branches and Map items "
              "too, as they were entered")
@click.option("--expect-output", help="the exact output expected: JSON text, or @file.json")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object: status, output, error, steps, passed")
def test_command(file: str, mocks_file: str | None, case: str | None, input_: str | None, flows_dir: str | None,
                 functions_dir: str | None, expect_status: str, expect_path: str | None, nested: bool,
                 expect_output: str | None, as_json: bool) -> None:
    """Run FILE with mocked services on a virtual clock (waits take no time). Exit 0 if the expectations hold,
    1 if not, 2 for bad input."""
    from stateway.testing import Harness, MockConfig, MockConfigError, MockError
    from stateway.testing._result import path_mismatch

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    execution_input = _json_option(input_, "--input") or {}
    if not isinstance(execution_input, dict):
        raise click.UsageError("--input must be a JSON object")
    expected_output = _json_option(expect_output, "--expect-output")
    began = time.perf_counter()
    with Harness() as harness:
        try:
            if flows_dir:
                for child in sorted(Path(flows_dir).glob("*.y*ml")):
                    harness.register(child)
            flow = harness.register(Path(file))
        except FlowDefinitionError as exc:
            for problem in exc.problems:
                click.echo(problem.format(file), err=True)
            sys.exit(2)
        if functions_dir:
            harness.use_real_services(functions_dir, actions=["FC:InvokeFunction"])
        label = flow
        if mocks_file:
            try:
                config = MockConfig.load(mocks_file)
                flow_key = flow if flow in config.flows() else None
                cases = config.cases(flow_key)
                if case is None:
                    if len(cases) != 1:
                        raise MockConfigError(f"{mocks_file}: say which test case to run with --case: "
                                              f"{', '.join(cases)}")
                    case = cases[0]
                harness.use_mocks(config, case, flow_key)
            except MockConfigError as exc:
                click.echo(f"error: {exc}", err=True)
                sys.exit(2)
            label = f"{flow} · {case}"
        elif case:
            raise click.UsageError("--case needs --mocks")
        try:
            result = harness.run(flow, execution_input)
            error = None
        except MockError as exc:
            result, error = None, str(exc)
    took = (time.perf_counter() - began) * 1000
    if result is None:
        _report(as_json, console, label, {"passed": False, "problems": [error]}, [f"error: {error}"])
        sys.exit(1)
    problems = []
    if result.status != expect_status:
        problems.append(f"status {result.status} ({result.error}: {result.cause}), expected {expect_status}"
                        if result.error else f"status {result.status}, expected {expect_status}")
    if expect_path:
        mismatch = path_mismatch([s.strip() for s in expect_path.split(",") if s.strip()], result.steps(),
                                 nested=nested)
        if mismatch:
            problems.append(mismatch)
    if expected_output is not None and result.output != expected_output:
        problems.append(f"output {json.dumps(result.output)}, expected {json.dumps(expected_output)}")
    lines = [f"{label}"]
    for step in result.steps():
        mark = {"succeeded": "[green]✓[/]", "caught": "[yellow]↷[/]", "failed": "[red]✗[/]"}.get(step.outcome, "·")
        lines.append(f"  {mark} {step.describe()}")
    virtual = result.duration or 0.0
    lines.append(f"{result.status} after {virtual:g}s of virtual time, in {took:.0f} ms")
    lines += [f"[red]FAILED[/]: {p}" for p in problems] or ["[green]passed[/]"]
    summary = {"flow": flow, "case": case, "status": result.status, "output": result.output, "error": result.error,
               "cause": result.cause, "steps": [s.path for s in result.steps()], "passed": not problems,
               "problems": problems}
    _report(as_json, console, label, summary, lines)
    if not as_json and result.output is not None:
        click.echo(json.dumps(result.output, indent=2, ensure_ascii=False))
    sys.exit(0 if not problems else 1)


def _report(as_json: bool, console: Console, label: str, summary: dict[str, Any], lines: list[str]) -> None:
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False))
    for line in lines:
        console.print(line)
