import io
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.test_fdl import BROKEN


def stateway(*args):
    return subprocess.run([sys.executable, "-m", "stateway.cli", *args], capture_output=True, text=True, timeout=60)


def test_validate_prints_one_line_per_problem(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BROKEN)
    out = stateway("validate", str(bad))
    assert out.returncode == 1
    assert f"{bad}:7:5: error: States[0] \"A\" > Nxt: unknown field 'Nxt' for a Pass state; did you mean 'Next'?" \
        in out.stdout.splitlines()


def test_validate_ok_and_warnings(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("Type: StateMachine\nSpecVersion: v1\nStartAt: A\nStates:\n  - {Type: Pass, Name: A, End: true}\n"
                    "  - {Type: Pass, Name: B, End: true}\n")
    out = stateway("validate", str(good))
    assert out.returncode == 0 and ": warning: " in out.stdout


def test_run_bad_definition_exits_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BROKEN)
    out = stateway("run", str(bad), "--json")
    assert out.returncode == 2 and "did you mean 'Next'" in out.stderr


def test_queue_commands(tmp_path):
    db = str(tmp_path / "q.db")
    assert stateway("queue", "send", "jobs", '{"a": 1}', "--db", db).returncode == 0
    received = stateway("queue", "receive", "jobs", "--db", db)
    assert received.returncode == 0 and '\\"a\\": 1' in received.stdout
    import json

    handle = json.loads(received.stdout)["ReceiptHandle"]
    assert stateway("queue", "receive", "jobs", "--db", db).returncode == 1  # hidden while being worked on
    old = stateway("queue", "visibility", "jobs", handle, "0", "--db", db).stdout.strip()
    again = stateway("queue", "receive", "jobs", "--db", db)
    assert again.returncode == 0  # visible again at once
    assert stateway("queue", "delete", "jobs", old, "--db", db).returncode == 1  # a superseded handle is void
    handle = json.loads(again.stdout)["ReceiptHandle"]
    stateway("queue", "visibility", "jobs", handle, "1", "--db", db)
    time.sleep(1.1)
    handle = json.loads(stateway("queue", "receive", "jobs", "--db", db).stdout)["ReceiptHandle"]
    assert stateway("queue", "delete", "jobs", handle, "--db", db).returncode == 0
    assert "0 messages" in stateway("queue", "list", "--db", db).stdout


# -- a newcomer's first hour (issue 15) and clean CLI errors (issue 9) -------------------------------------

LOOP = """Type: StateMachine
SpecVersion: v1
Name: loop
StartAt: Init
States:
  - Type: Pass
    Name: Init
    OutputConstructor: {i: 0}
    Next: Inc
  - Type: Pass
    Name: Inc
    OutputConstructor:
      i.$: $Input.i + 1
    Next: Check
  - Type: Choice
    Name: Check
    Branches:
      - Condition: $Input.i < %d
        Next: Inc
    Default: Done
  - Type: Succeed
    Name: Done
"""

WAITING = """Type: StateMachine
SpecVersion: v1
Name: approve
StartAt: Price
States:
  - Type: Task
    Name: Price
    Action: FC:InvokeFunction
    Parameters:
      resourceArn: acs:fc:::functions/price
      invocationType: Sync
      body: {}
    Next: Ask
  - Type: Task
    Name: Ask
    Action: MNS:SendMessage
    TaskMode: WaitForCustomCallback
    Timeout: 300
    Parameters:
      resourceArn: acs:mns:::/queues/asks/messages
      message:
        token.$: $Context.Current.TaskToken
    End: true
"""

PRICE = "import sys\n\ndef handler(event, context):\n    print('pricing now')\n    print('cache cold', file=sys.stderr)\n" \
        "    return {'total': 3}\n"


def test_version():
    out = stateway("--version")
    assert out.returncode == 0 and out.stdout.startswith("stateway ") and out.stdout.split()[1][0].isdigit()


def test_every_command_has_a_help_summary_and_shows_defaults():
    from stateway.cli._main import cli

    def walk(command, path):
        yield path, command
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, f"{path} {name}")

    for path, command in walk(cli, "stateway"):
        assert (command.help or "").strip(), f"{path} has no help"
    help_text = stateway("exec", "describe", "--help").stdout
    assert "default: 127.0.0.1:8765" in help_text and "STATEWAY_ENDPOINT" in help_text


@pytest.mark.parametrize("case", ["non-utf8", "missing-input", "deep-input", "nan-input", "surrogate-input",
                                  "broken-child", "taken-port"])
def test_run_bad_input_is_a_clean_error_exit_2(tmp_path, case):
    flow = tmp_path / "loop.yaml"
    flow.write_text(LOOP % 3)
    args = ["run", str(flow)]
    blocker = None
    if case == "non-utf8":
        flow.write_bytes(b"Type: StateMachine\nName: \xff\xfe\n")
    elif case == "missing-input":
        args += ["--input", f"@{tmp_path / 'missing.json'}"]
    elif case == "deep-input":
        (tmp_path / "deep.json").write_text('{"a": ' + "[" * 3000 + "]" * 3000 + "}")
        args += ["--input", f"@{tmp_path / 'deep.json'}"]
    elif case == "nan-input":
        args += ["--input", '{"a": NaN}']
    elif case == "surrogate-input":
        args += ["--input", '{"a": "\\ud800"}']
    elif case == "broken-child":
        (tmp_path / "flows").mkdir()
        (tmp_path / "flows" / "child.yaml").write_text(BROKEN)
        args += ["--flows", str(tmp_path / "flows")]
    elif case == "taken-port":
        blocker = socket.socket()
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        args += ["--port", str(blocker.getsockname()[1])]
    try:
        out = stateway(*args)
    finally:
        if blocker is not None:
            blocker.close()
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    expected = {"non-utf8": "not UTF-8", "missing-input": "missing.json: cannot read", "deep-input": "deeper than 100",
                "nan-input": "NaN is not JSON", "surrogate-input": "surrogate",
                "broken-child": f"{tmp_path / 'flows' / 'child.yaml'}:7:5: error", "taken-port": "is taken"}[case]
    assert expected in out.stderr


def test_validate_warns_on_unknown_parameters_and_suggests(tmp_path):
    flow = tmp_path / "typo.yaml"
    flow.write_text(WAITING.replace("invocationType", "invokeType"))
    out = stateway("validate", str(flow))
    assert out.returncode == 0
    assert ("warning: States[0] \"Price\" > Parameters > invokeType: unknown parameter 'invokeType' for "
            "FC:InvokeFunction") in out.stdout and "did you mean 'invocationType'?" in out.stdout


def test_run_off_a_terminal_prints_a_summary_not_a_line_per_step(tmp_path):
    flow = tmp_path / "loop.yaml"
    flow.write_text(LOOP % 2000)
    out = stateway("run", str(flow), "--json")
    assert out.returncode == 0 and json.loads(out.stdout.splitlines()[-1])["output"] == {"i": 2000}
    assert len(out.stderr.splitlines()) < 6, out.stderr
    assert "4,002 steps (4 distinct)" in out.stderr and "Inc ×2,000" in out.stderr


def test_progress_on_a_terminal_collapses_repeated_steps():
    from rich.console import Console

    from stateway.cli._run import Progress

    class Store:
        def get_execution(self, _):
            raise AssertionError("root execution needs no lookup")

    class Runtime:
        store = Store()

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=200, color_system=None)
    progress = Progress(Runtime(), console, [1])
    events = []
    for i in range(500):
        for step in ("Inc", "Check"):
            events.append({"Type": "StepEntered", "StepName": step, "Time": i, "EventDetail": {}})
            events.append({"Type": "StepExited", "StepName": step, "Time": i, "EventDetail": {"output": "{}"}})
    progress(1, events)
    progress.flush()
    lines = buffer.getvalue().splitlines()
    assert sum("Inc" in line for line in lines) == 2  # entered once, left once
    assert "Inc ×500" in progress.summary()


def test_run_shows_function_output_and_a_callback_command_with_the_full_path(tmp_path):
    flow = tmp_path / "approve.yaml"
    flow.write_text(WAITING)
    functions = tmp_path / "functions"
    functions.mkdir()
    (functions / "price.py").write_text(PRICE)
    proc = subprocess.Popen([sys.executable, "-m", "stateway.cli", "run", str(flow), "--functions", str(functions)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    try:
        for line in proc.stderr:
            seen.append(line)
            if "task succeed" in line:
                command = line.split()
                break
        assert command[:3] == [sys.executable, "-m", "stateway.cli"], command
        assert os.path.isabs(command[0])
        done = subprocess.run(command[:-2] + ["--output", '{"ok": true}'], capture_output=True, text=True,
                              timeout=30)
        assert done.returncode == 0, done.stderr
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    text = "".join(seen) + err
    assert proc.returncode == 0 and json.loads(out) == {"ok": True}
    assert "pricing now" in text and "cache cold" in text


def test_self_command_is_the_full_path_of_the_running_script(monkeypatch, tmp_path):
    from stateway.cli._run import self_command

    script = tmp_path / "bin" / "stateway"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["bin/stateway", "run"])
    assert self_command() == str(script)


def test_run_config_applies_limits(tmp_path):
    flow = tmp_path / "nap.yaml"
    flow.write_text("Type: StateMachine\nSpecVersion: v1\nName: nap\nStartAt: W\nStates:\n"
                    "  - {Type: Wait, Name: W, Seconds: 3, End: true}\n")
    config = tmp_path / "stateway.toml"
    config.write_text("[limits]\nexecution_seconds = 1\n")
    limited = stateway("run", str(flow), "--json", "--config", str(config))
    assert limited.returncode == 1 and json.loads(limited.stdout.splitlines()[-1])["status"] == "TimedOut", \
        limited.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text("[limits\n")
    assert stateway("run", str(flow), "--config", str(bad)).returncode == 2


def test_loop_through_run_costs_little_more_than_the_engine(tmp_path):
    """10,000 transitions: `stateway run` does not hang or crawl next to the engine alone. The 1.3x
    bound is a benchmark figure (`make bench`: run.cli_over_engine); here only 20x plus start-up.

    Start-up (interpreter, imports, server) is left out by measuring both runs the same way: the
    execution's own start and stop times as the store recorded them; the CLI's progress listener
    runs on the engine's thread, so whatever it costs is inside that span."""
    import time as clock

    from stateway.runtime import Runtime
    from stateway.store import SQLiteStore

    source = LOOP % 5000  # Inc and Check 5,000 times each: 10,000 transitions
    flow = tmp_path / "flow.yaml"
    flow.write_text(source)

    def span(db: str) -> float:
        store = SQLiteStore(db)
        row = store.list_executions(flow_name="loop")[0]
        store.close()
        assert row.status == "Succeeded"
        return row.stopped - row.started

    def engine() -> float:
        db = str(tmp_path / f"e{clock.monotonic_ns()}.db")
        with Runtime(SQLiteStore(db)) as runtime:
            runtime.register_flow("loop", source)
            runtime.wait(runtime.start_execution("loop", {}).id, 60)
        return span(db)

    def cli() -> float:
        db = str(tmp_path / f"c{clock.monotonic_ns()}.db")
        out = stateway("run", str(flow), "--db", db)
        assert out.returncode == 0, out.stderr
        return span(db)

    engine_time = min(engine() for _ in range(3))
    through_cli = min(cli() for _ in range(3))
    assert through_cli <= 20 * engine_time + 5, (through_cli, engine_time)


def test_client_commands_find_waiting_tasks_logs_and_current_steps(tmp_path):
    from tests.test_serve_cli import start_server

    functions = tmp_path / "functions"
    functions.mkdir()
    (functions / "price.py").write_text(PRICE)
    proc, endpoint = start_server(tmp_path, "--log-format", "json", "--functions", str(functions))
    try:
        flow = tmp_path / "approve.yaml"
        flow.write_text(WAITING)
        assert stateway("flow", "create", str(flow), "--endpoint", endpoint).returncode == 0
        assert stateway("exec", "start", "approve", "--name", "a1", "--endpoint", endpoint).returncode == 0
        deadline = time.monotonic() + 20
        while True:
            tasks = json.loads(stateway("task", "list", "--json", "--endpoint", endpoint).stdout)
            if tasks or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert [(t["FlowName"], t["ExecutionName"], t["StepName"], t["TimeoutSeconds"]) for t in tasks] == [
            ("approve", "a1", "Ask", 300)]
        assert tasks[0]["TaskToken"].startswith("sw1.") and tasks[0]["WaitedSeconds"] >= 0
        table = stateway("task", "list", "approve", "--endpoint", endpoint).stdout.splitlines()
        assert table[0].split() == ["FLOW", "EXECUTION", "STEP", "MODE", "WAITED", "TIMEOUT", "KEY", "TOKEN"]
        assert table[1].split()[:3] == ["approve", "a1", "Ask"] and table[1].split()[-1] == tasks[0]["TaskToken"]
        described = stateway("exec", "describe", "approve", "a1", "--endpoint", endpoint).stdout
        assert "current    Ask" in described and "StartAt" not in described
        assert "StartAt" in stateway("exec", "describe", "approve", "a1", "--definition", "--endpoint",
                                     endpoint).stdout
        assert json.loads(stateway("exec", "describe", "approve", "a1", "--json", "--endpoint",
                                   endpoint).stdout)["CurrentSteps"] == ["Ask"]
        logs = stateway("exec", "logs", "approve", "a1", "--step", "Price", "--endpoint", endpoint).stdout
        assert "pricing now" in logs and "cache cold" in logs
        assert json.loads(stateway("exec", "logs", "approve", "a1", "--json", "--endpoint", endpoint).stdout)[0][
            "Stdout"] == "pricing now\n"
        assert stateway("exec", "logs", "approve", "a1", "--step", "Ask", "--json", "--endpoint",
                        endpoint).stdout.strip() == "[]"
        assert stateway("task", "succeed", tasks[0]["TaskToken"], "--endpoint", endpoint).returncode == 0
        assert stateway("exec", "describe", "approve", "a1", "--wait", "10", "--endpoint", endpoint).returncode == 0
        assert [i["Name"] for i in json.loads(stateway("exec", "list", "approve", "--json", "--endpoint",
                                                       endpoint).stdout)] == ["a1"]
        assert json.loads(stateway("flow", "list", "--json", "--endpoint", endpoint).stdout)[0]["Name"] == "approve"
        assert "Definition" not in json.loads(stateway("flow", "describe", "approve", "--json", "--endpoint",
                                                       endpoint).stdout)
        history = json.loads(stateway("exec", "history", "approve", "a1", "--json", "--endpoint",
                                      endpoint).stdout)["Events"]
        assert history[-1]["Type"] == "ExecutionSucceeded"
        succeeded = history[[e["Type"] for e in history].index("TaskSucceeded")]
        assert json.loads(succeeded["EventDetail"])["logs"]["stdout"] == "pricing now\n"
        assert stateway("task", "list", "--endpoint", endpoint).stderr.strip() == "no task is waiting"
    finally:
        proc.terminate()
        err = proc.communicate(timeout=10)[1]
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    messages = [(entry["message"], entry.get("execution")) for entry in lines]
    assert ("execution started", "a1") in messages and ("task waiting for a callback", "a1") in messages
    ended = [entry for entry in lines if entry["message"] == "execution ended"]
    assert ended[0]["status"] == "Succeeded" and ended[0]["flow"] == "approve"
    waiting = [entry for entry in lines if entry["message"] == "task waiting for a callback"][0]
    assert waiting["step"] == "Ask" and waiting["token"] == tasks[0]["TaskToken"]


def test_serve_refuses_a_taken_port(tmp_path):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        out = stateway("serve", "--port", str(blocker.getsockname()[1]), "--data-dir", str(tmp_path))
    assert out.returncode == 2 and "taken" in out.stderr


def test_queue_list_json_and_table(tmp_path):
    db = str(tmp_path / "q.db")
    stateway("queue", "send", "jobs", "x", "--db", db)
    assert json.loads(stateway("queue", "list", "--json", "--db", db).stdout) == [{"Name": "jobs", "Messages": 1}]
    assert stateway("queue", "list", "--db", db).stdout.splitlines()[0].split() == ["QUEUE", "MESSAGES"]


def test_shell_completion_is_documented_and_works():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert "_STATEWAY_COMPLETE=bash_source" in readme
    out = subprocess.run([sys.executable, "-c", "from stateway.cli import main; main()"], capture_output=True,
                         text=True, env={**os.environ, "_STATEWAY_COMPLETE": "bash_complete", "COMP_WORDS": "stateway ex",
                                         "COMP_CWORD": "1"}, timeout=30)
    assert "exec" in out.stdout

