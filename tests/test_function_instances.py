"""Warm function instances (issue 19 §1): a Python function's process imports its handler once and
serves many calls; what a call could rely on with a process per call still holds."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
import threading
import time

import pytest

from tests.conformance.harness import processes_of

COUNTER = textwrap.dedent("""
    import os, sys
    CALLS = 0
    INITIALIZED = 0

    def initializer(context):
        global INITIALIZED
        INITIALIZED += 1

    def handler(event, context):
        global CALLS
        CALLS += 1
        print("call", CALLS)
        print("to stderr", CALLS, file=sys.stderr)
        return {"calls": CALLS, "pid": os.getpid(), "initialized": INITIALIZED,
                "request": os.environ.get("STATEWAY_REQUEST_ID"), "context_request": context.request_id,
                "name": os.environ.get("STATEWAY_FUNCTION_NAME"), "color": os.environ.get("COLOR")}
""")
SLEEPER = textwrap.dedent("""
    import os, time
    def handler(event, context):
        time.sleep(event.get("sleep", 0))
        return {"pid": os.getpid()}
""")
CRASHER = textwrap.dedent("""
    import os, signal, sys
    def handler(event, context):
        if event.get("crash"):
            print("about to die", file=sys.stderr, flush=True)
            os.kill(os.getpid(), signal.SIGKILL) if event["crash"] == "signal" else os._exit(7)
        return {"pid": os.getpid()}
""")


@pytest.fixture
def fn_runtime(tmp_path):
    """A runtime on an in-memory store with these functions (name → source) and ``[functions]`` settings."""
    from stateway.runtime import Runtime
    from stateway.settings import Settings
    from stateway.store import SQLiteStore

    runtimes = []

    def make(sources: dict[str, str], functions: dict | None = None):
        directory = tmp_path / "functions"
        directory.mkdir(exist_ok=True)
        for name, source in sources.items():
            (directory / f"{name}.py").write_text(source)
        settings = Settings.from_config({"functions": functions or {}}, functions_dir=directory)
        runtime = Runtime(SQLiteStore.in_memory(), settings=settings).start()
        runtimes.append(runtime)
        return runtime

    yield make
    for runtime in runtimes:
        runtime.close()


def task_flow(name: str, function: str, timeout: int | None = None) -> str:
    limit = f"    Timeout: {timeout}\n" if timeout else ""
    return (f"Type: StateMachine\nSpecVersion: v1\nName: {name}\nStartAt: Call\nStates:\n"
            f"  - Type: Task\n    Name: Call\n    Action: FC:InvokeFunction\n{limit}"
            f"    Parameters:\n      resourceArn: acs:fc:::functions/{function}\n      invocationType: Sync\n"
            f"      body.$: $Input\n    OutputConstructor:\n      body.$: $Output.Body\n    End: true\n")


def run(runtime, flow: str, payload=None, timeout: float = 60):
    row = runtime.start_execution(flow, payload if payload is not None else {})
    return runtime.wait(row.id, timeout)


def task_event(runtime, execution_id: int, kind: str = "TaskSucceeded") -> dict:
    events = [e for e in runtime.store.history(execution_id) if e["Type"] == kind]
    assert events, [e["Type"] for e in runtime.store.history(execution_id)]
    return json.loads(events[-1]["EventDetail"]) if isinstance(events[-1]["EventDetail"], str) else events[-1][
        "EventDetail"]


def test_module_globals_persist_across_calls_of_one_instance(fn_runtime):
    runtime = fn_runtime({"counter": COUNTER}, functions={"counter": {"initializer": "initializer",
                                                                          "environment": {"COLOR": "blue"}}})
    runtime.register_flow("c", task_flow("c", "counter"))
    ends = [run(runtime, "c") for _ in range(3)]
    assert [e.status for e in ends] == ["Succeeded"] * 3, [(e.error, e.cause) for e in ends]
    bodies = [e.output["body"] for e in ends]
    assert [b["calls"] for b in bodies] == [1, 2, 3]
    assert len({b["pid"] for b in bodies}) == 1
    assert all(b["initialized"] == 1 for b in bodies)  # the initializer ran once for the instance
    assert all(b["name"] == "counter" and b["color"] == "blue" for b in bodies)  # the function's environment
    assert all(b["request"] == b["context_request"] and b["request"] for b in bodies)
    assert len({b["request"] for b in bodies}) == 3
    # the first call started the instance (a cold start, in its history), the others did not
    details = [task_event(runtime, e.id) for e in ends]
    assert [bool(d.get("logs", {}).get("coldStart")) for d in details] == [True, False, False]
    # each call's output is its own
    assert [runtime.store.task_logs(e.id)[0]["stdout"] for e in ends] == ["call 1\n", "call 2\n", "call 3\n"]
    assert [runtime.store.task_logs(e.id)[0]["stderr"] for e in ends] == [f"to stderr {i}\n" for i in (1, 2, 3)]


def test_reuse_false_keeps_a_process_per_call(fn_runtime):
    runtime = fn_runtime({"counter": COUNTER}, functions={"counter": {"reuse": False}})
    runtime.register_flow("c", task_flow("c", "counter"))
    bodies = [run(runtime, "c").output["body"] for _ in range(3)]
    assert [b["calls"] for b in bodies] == [1, 1, 1]
    assert len({b["pid"] for b in bodies}) == 3
    deadline = time.monotonic() + 10
    while processes_of("counter") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not processes_of("counter")


def test_cold_starts_are_counted_in_metrics(fn_runtime):
    from prometheus_client import REGISTRY

    def cold_starts() -> float:
        return REGISTRY.get_sample_value("stateway_function_cold_starts_total", {"function": "metered"}) or 0.0

    before = cold_starts()
    runtime = fn_runtime({"metered": COUNTER})
    runtime.register_flow("m", task_flow("m", "metered"))
    for _ in range(3):
        assert run(runtime, "m").status == "Succeeded"
    assert cold_starts() - before == 1


def test_a_call_stopped_midway_kills_its_instance_and_the_next_call_succeeds(fn_runtime):
    runtime = fn_runtime({"sleeper": SLEEPER})
    runtime.register_flow("s", task_flow("s", "sleeper"))
    warm = run(runtime, "s", {"sleep": 0}).output["body"]["pid"]
    row = runtime.start_execution("s", {"sleep": 60})
    deadline = time.monotonic() + 20
    while not runtime.registry.get("FC:InvokeFunction").functions.running():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    runtime.stop_execution(row.id, "Operator", "enough")
    assert runtime.wait(row.id, 10).status == "Stopped"
    deadline = time.monotonic() + 10
    while warm in processes_of("sleeper") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert warm not in processes_of("sleeper")  # the instance that ran the call is gone
    after = run(runtime, "s", {"sleep": 0})
    assert after.status == "Succeeded" and after.output["body"]["pid"] != warm


def test_a_timeout_kills_the_instance_and_a_new_one_serves_the_next_call(fn_runtime):
    runtime = fn_runtime({"sleeper": SLEEPER}, functions={"sleeper": {"timeout": 1}})
    runtime.register_flow("s", task_flow("s", "sleeper"))
    warm = run(runtime, "s", {"sleep": 0}).output["body"]["pid"]
    slow = run(runtime, "s", {"sleep": 30})
    assert (slow.status, slow.error) == ("Failed", "FC.FunctionTimeout")
    deadline = time.monotonic() + 10
    while warm in processes_of("sleeper") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert warm not in processes_of("sleeper")
    after = run(runtime, "s", {"sleep": 0})
    assert after.status == "Succeeded" and after.output["body"]["pid"] != warm


@pytest.mark.parametrize("how", ["exit", "signal"])
def test_a_crashing_call_fails_alone_and_its_instance_is_replaced(fn_runtime, how):
    runtime = fn_runtime({"crasher": CRASHER, "sleeper": SLEEPER},
                             functions={"crasher": {"max_dispatches": 2}})
    runtime.register_flow("c", task_flow("c", "crasher"))
    runtime.register_flow("s", task_flow("s", "sleeper"))
    first = run(runtime, "c").output["body"]["pid"]
    alongside = runtime.start_execution("s", {"sleep": 1})
    crashed = run(runtime, "c", {"crash": how})
    assert (crashed.status, crashed.error) == ("Failed", "FC.FunctionCrashed")
    assert ("killed by signal SIGKILL" if how == "signal" else "exited with status 7") in crashed.cause
    assert "about to die" in crashed.cause and "dispatched 2 times" in crashed.cause
    assert runtime.wait(alongside.id, 30).status == "Succeeded"
    after = run(runtime, "c")
    assert after.status == "Succeeded" and after.output["body"]["pid"] != first
    assert first not in processes_of("crasher")
    # the crashed call's dispatches are on record, and listed as a poison call
    poison = runtime.store.poison_calls(crashed.id)
    assert len(poison) == 1 and poison[0]["dispatches"] == 2 and poison[0]["function"] == "crasher"


def test_a_handler_edited_on_disk_serves_the_next_call_while_a_call_in_flight_finishes(fn_runtime, tmp_path):
    source = "import time\ndef handler(event, context):\n    time.sleep(event.get('sleep', 0))\n    return {{'v': {v}}}\n"
    runtime = fn_runtime({"edited": source.format(v=1)})
    runtime.register_flow("e", task_flow("e", "edited"))
    assert run(runtime, "e").output["body"] == {"v": 1}
    in_flight = runtime.start_execution("e", {"sleep": 2})
    deadline = time.monotonic() + 20
    while not runtime.registry.get("FC:InvokeFunction").functions.running():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    (tmp_path / "functions" / "edited.py").write_text(source.format(v=2))  # same size: content decides
    assert run(runtime, "e").output["body"] == {"v": 2}
    assert runtime.wait(in_flight.id, 30).output["body"] == {"v": 1}  # finished on the old instance
    assert run(runtime, "e").output["body"] == {"v": 2}


def test_output_is_captured_per_call_with_64_kib_tails(fn_runtime):
    loud = ("import sys\ndef handler(event, context):\n"
            "    sys.stdout.write('o' * 100_000 + 'END' + str(event['n']))\n"
            "    sys.stderr.write('e' * 70_000 + 'ERR' + str(event['n']))\n    return event['n']\n")
    runtime = fn_runtime({"loud": loud})
    runtime.register_flow("l", task_flow("l", "loud"))
    for n in (1, 2):
        end = run(runtime, "l", {"n": n})
        assert end.output["body"] == n
        logs = runtime.store.task_logs(end.id)[0]
        assert logs["stdout"].endswith(f"END{n}") and "bytes cut" in logs["stdout"]
        assert logs["stderr"].endswith(f"ERR{n}") and len(logs["stderr"]) < 64 * 1024 + 100


def test_memory_mb_fails_the_call_with_resource_exhausted(fn_runtime):
    hungry = ("def handler(event, context):\n    if event.get('big'):\n"
              "        return len(bytearray(600 * 1024 * 1024))\n    return 'small'\n")
    runtime = fn_runtime({"hungry": hungry}, functions={"hungry": {"memory_mb": 300}})
    runtime.register_flow("h", task_flow("h", "hungry"))
    failed = run(runtime, "h", {"big": True})
    assert (failed.status, failed.error) == ("Failed", "FC.ResourceExhausted"), failed.cause
    assert "memory_mb = 300" in failed.cause
    assert run(runtime, "h").output["body"] == "small"


def test_calls_beyond_max_instances_wait_and_the_instances_stay_bounded(fn_runtime):
    runtime = fn_runtime({"sleeper": SLEEPER}, functions={"sleeper": {"max_instances": 2}})
    runtime.register_flow("s", task_flow("s", "sleeper"))
    rows = [runtime.start_execution("s", {"sleep": 0.5}) for _ in range(6)]
    peak = 0
    deadline = time.monotonic() + 60
    while not all(runtime.store.execution_status(r.id) == "Succeeded" for r in rows):
        assert time.monotonic() < deadline
        peak = max(peak, len(processes_of("sleeper")))
        time.sleep(0.02)
    assert 1 <= peak <= 2
    assert len({runtime.store.get_execution(r.id).output["body"]["pid"] for r in rows}) <= 2


def test_instance_concurrency_serves_calls_at_once_in_one_process(fn_runtime):
    runtime = fn_runtime({"sleeper": SLEEPER}, functions={"sleeper": {"instance_concurrency": 4,
                                                                          "max_instances": 1}})
    runtime.register_flow("s", task_flow("s", "sleeper"))
    run(runtime, "s", {"sleep": 0})
    rows = [runtime.start_execution("s", {"sleep": 1}) for _ in range(4)]
    ends = [runtime.wait(r.id, 60) for r in rows]
    assert {e.status for e in ends} == {"Succeeded"}
    assert len({e.output["body"]["pid"] for e in ends}) == 1


def test_an_idle_instance_is_stopped(fn_runtime):
    runtime = fn_runtime({"sleeper": SLEEPER}, functions={"idle_seconds": 0.5})
    runtime.register_flow("s", task_flow("s", "sleeper"))
    pid = run(runtime, "s", {"sleep": 0}).output["body"]["pid"]
    deadline = time.monotonic() + 20
    while pid in processes_of("sleeper"):
        assert time.monotonic() < deadline, "the idle instance was not stopped"
        time.sleep(0.05)


def test_instances_are_started_without_preexec_fn(fn_runtime, monkeypatch):
    """A preexec_fn makes CPython fork the whole engine while holding its GIL."""
    seen = []
    real = subprocess.Popen

    def spy(*args, **kwargs):
        seen.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", spy)
    runtime = fn_runtime({"counter": COUNTER}, functions={"cmd": {"command": "echo '{\"ok\": 1}'"}})
    runtime.register_flow("c", task_flow("c", "counter"))
    runtime.register_flow("d", task_flow("d", "cmd"))
    assert run(runtime, "c").status == "Succeeded"
    assert run(runtime, "d").output["body"] == {"ok": 1}
    assert len(seen) == 2
    assert all(k.get("preexec_fn") is None and k.get("start_new_session") for k in seen)


def test_the_host_dies_with_its_engine(tmp_path):
    """The instance sets its own parent-death signal: a killed engine leaves no instance behind."""
    functions = tmp_path / "functions"
    functions.mkdir()
    (functions / "orphaned.py").write_text(SLEEPER)
    script = textwrap.dedent(f"""
        import os, signal, sys, time
        from stateway.services.functions import FunctionRuntime
        rt = FunctionRuntime({str(functions)!r})
        spec = rt.resolve("acs:fc:::functions/orphaned")
        print(rt.invoke(spec, {{}}, "r1", "k1")["pid"], flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    out = subprocess.run([os.sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    pid = int(out.stdout.strip())
    deadline = time.monotonic() + 10
    while pid in processes_of("orphaned") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pid not in processes_of("orphaned")


def test_function_entries_from_the_config_file_and_the_directory_both_count(tmp_path):
    """[functions.NAME] of --config and of DIR/stateway.toml; the same name in both: --config wins."""
    from stateway.services.functions import FunctionRuntime
    from stateway.settings import Settings

    functions = tmp_path / "functions"
    functions.mkdir()
    (functions / "stateway.toml").write_text(
        "[functions]\nidle_seconds = 7\nmax_instances = 3\n"
        "[functions.from-dir]\ncommand = \"echo '\\\"dir\\\"'\"\n[functions.both]\ncommand = \"echo '\\\"dir\\\"'\"\n")
    config = tmp_path / "config.toml"
    config.write_text("[functions]\nidle_seconds = 9\n"
                      "[functions.from-config]\ncommand = \"echo '\\\"config\\\"'\"\n"
                      "[functions.both]\ncommand = \"echo '\\\"config\\\"'\"\ntimeout = 5\n")
    settings = Settings.load(config, env={}, functions_dir=functions)
    rt = FunctionRuntime(settings.functions.directory, settings.functions.entries,
                         defaults=settings.functions.defaults)
    try:
        results = {name: rt.invoke(rt.resolve(f"acs:fc:::functions/{name}"), {}, "r", name)
                   for name in ("from-dir", "from-config", "both")}
        assert results == {"from-dir": "dir", "from-config": "config", "both": "config"}
        both = rt.resolve("acs:fc:::functions/both")
        assert both.timeout == 5
        assert both.options.idle_seconds == 9 and both.options.max_instances == 3  # defaults key by key
    finally:
        rt.close()


def test_serve_config_functions_are_used(tmp_path):
    """The reported defect: [functions.acc-cmd] in --config answered FC.FunctionNotFound."""
    from stateway.services.functions import FunctionRuntime
    from stateway.settings import Settings

    config = tmp_path / "config.toml"
    config.write_text("[functions.acc-cmd]\ncommand = \"echo '{\\\"a\\\": 1}'\"\n")
    (tmp_path / "fns").mkdir()
    settings = Settings.load(config, env={}, functions_dir=tmp_path / "fns")
    rt = FunctionRuntime(settings.functions.directory, settings.functions.entries)
    assert rt.invoke(rt.resolve("acs:fc:::functions/acc-cmd"), {}, "r", "k") == {"a": 1}


def test_a_poison_call_stops_after_max_dispatches_and_the_rest_goes_on(fn_runtime, tmp_path):
    """Every call kills its instance: after max_dispatches (5) the task fails FC.FunctionCrashed, with
    what is known; an execution alongside is not held up."""
    counter = tmp_path / "dispatches"
    killer = textwrap.dedent(f"""
        import os, signal, sys
        def handler(event, context):
            with open({str(counter)!r}, "a") as f:
                f.write(context.request_id + "\\n")
            print("native crash, say", file=sys.stderr, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    runtime = fn_runtime({"killer": killer, "sleeper": SLEEPER})
    runtime.register_flow("k", task_flow("k", "killer"))
    runtime.register_flow("s", task_flow("s", "sleeper"))
    poisoned = runtime.start_execution("k", {})
    small = runtime.start_execution("s", {"sleep": 0})
    assert runtime.wait(small.id, 60).status == "Succeeded"
    ended = runtime.wait(poisoned.id, 120)
    assert (ended.status, ended.error) == ("Failed", "FC.FunctionCrashed")
    assert "dispatched 5 times" in ended.cause and "SIGKILL" in ended.cause and "native crash" in ended.cause
    requests = counter.read_text().split()
    assert len(requests) == 5 and len(set(requests)) == 1  # the same request id every time
    assert runtime.store.poison_calls(ended.id)[0]["dispatches"] == 5


def test_a_call_taken_over_from_a_dead_worker_counts_as_a_lost_dispatch(tmp_path):
    """The outbox counts how often a command was handed out; a take-over tells the function runtime,
    which stops a call whose earlier dispatches all died with their worker."""
    from stateway.engine import Decision
    from stateway.store import SQLiteStore

    store = SQLiteStore(str(tmp_path / "s.db"))
    store.put_flow("f", task_flow("f", "x"), {}, replace=False)
    row, _ = store.create_execution("f", "e", {}, time.time())
    command = {"kind": "invoke", "task": "3", "token": "t", "state": "", "step": "Call",
               "action": "FC:InvokeFunction", "mode": "RequestComplete", "parameters": {}, "timeout": None}
    store.commit(row.id, [], Decision(state={}, commands=[command]), time.time(), [])  # nobody holds it
    assert store.claim_outbox("me", time.time(), 5)
    assert store.redispatched[(row.id, "3")] == 2
    assert store.claim_outbox("other", time.time() + 10, 5)  # after my lease ran out
    assert store.redispatched[(row.id, "3")] == 3
    lost = store.note_lost_dispatch("inv", row.id, "3", "f", "", "", time.time())
    assert lost["lost"] == 1 and lost["last_exit"] == ""
    lost = store.note_lost_dispatch("inv", row.id, "3", "f", "killed by signal SIGSEGV", "boom", time.time())
    assert (lost["lost"], lost["last_exit"], lost["last_stderr"]) == (2, "killed by signal SIGSEGV", "boom")
    lost = store.note_lost_dispatch("inv", row.id, "3", "f", "", "", time.time(), gave_up=True)
    assert (lost["lost"], lost["last_exit"], lost["gave_up"]) == (3, "killed by signal SIGSEGV", True)
    assert store.poison_calls(row.id) == [{"task_id": "3", "function": "f", "dispatches": 3,
                                           "last_exit": "killed by signal SIGSEGV", "last_stderr": "boom"}]
    store.close()


def test_a_concurrent_crash_takes_only_its_own_call(fn_runtime):
    """Calls on other instances of the same function go on while one crashes its instance."""
    runtime = fn_runtime({"crasher": CRASHER + "\nimport time\n", "sleeper": SLEEPER},
                             functions={"crasher": {"max_dispatches": 1}})
    runtime.register_flow("c", task_flow("c", "crasher"))
    results = []

    def call(payload):
        results.append(run(runtime, "c", payload))

    threads = [threading.Thread(target=call, args=({"crash": "exit"} if i == 0 else {},)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status for r in results) == ["Failed", "Succeeded", "Succeeded"]


def test_serve_honours_config_functions_and_describe_lists_poison_calls(tmp_path):
    """``serve --config`` with [functions.NAME] (the reported FC.FunctionNotFound), and a poison call
    named by ``exec describe``."""
    from tests.test_cli import stateway
    from tests.test_serve_cli import start_server

    functions = tmp_path / "functions"
    functions.mkdir()
    (functions / "killer.py").write_text(CRASHER)
    config = tmp_path / "config.toml"
    config.write_text("[functions.acc-cmd]\ncommand = \"echo '{\\\"a\\\": 1}'\"\n[functions.killer]\nmax_dispatches = 2\n")
    proc, endpoint = start_server(tmp_path, "--functions", str(functions), "--config", str(config))
    try:
        for name, function in (("cmd", "acc-cmd"), ("kill", "killer")):
            (tmp_path / f"{name}.yaml").write_text(task_flow(name, function))
            assert stateway("flow", "create", str(tmp_path / f"{name}.yaml"), "--endpoint", endpoint).returncode == 0
        assert stateway("exec", "start", "cmd", "--name", "c1", "--endpoint", endpoint).returncode == 0
        assert stateway("exec", "start", "kill", "--name", "k1", "--input", '{"crash": "exit"}',
                        "--endpoint", endpoint).returncode == 0
        cmd = json.loads(stateway("exec", "describe", "cmd", "c1", "--wait", "30", "--json", "--endpoint",
                                  endpoint).stdout)
        assert cmd["Status"] == "Succeeded" and json.loads(cmd["Output"]) == {"body": {"a": 1}}
        json.loads(stateway("exec", "describe", "kill", "k1", "--wait", "30", "--json", "--endpoint", endpoint).stdout)
        described = stateway("exec", "describe", "kill", "k1", "--endpoint", endpoint).stdout
        assert "FC.FunctionCrashed" in described
        assert "poison call: Call" in described and "dispatched 2 times" in described, described
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_console_execution_page_lists_poison_calls(tmp_path):
    import httpx

    from stateway.api import BackgroundServer, create_app
    from stateway.runtime import Runtime
    from stateway.settings import Settings
    from stateway.store import SQLiteStore
    from tests.console.test_console_http import sign_in

    (tmp_path / "functions").mkdir()
    (tmp_path / "functions" / "killer.py").write_text(CRASHER)
    settings = Settings.from_config({"functions": {"max_dispatches": 2}}, functions_dir=tmp_path / "functions")
    runtime = Runtime(SQLiteStore(str(tmp_path / "c.db")), settings=settings).start()
    app = create_app(runtime, {"ak": "sk"})
    server = BackgroundServer(app, "127.0.0.1").start()
    try:
        runtime.register_flow("k", task_flow("k", "killer"))
        ended = run(runtime, "k", {"crash": "signal"})
        assert ended.error == "FC.FunctionCrashed"
        with httpx.Client(base_url=f"http://{server.endpoint}", follow_redirects=False, timeout=30) as client:
            sign_in(client)
            page = client.get(f"/console/flows/k/executions/{ended.name}").text
        assert "Poison calls" in page and "2 dispatches" in page and "killed by signal SIGKILL" in page
    finally:
        server.stop()
        app.state.service.close()
        runtime.close()


def test_a_call_waiting_for_a_busy_function_is_cancelled_without_touching_the_busy_one(fn_runtime, tmp_path):
    runtime = fn_runtime({"sleeper": SLEEPER}, functions={"sleeper": {"max_instances": 1, "timeout": 5}})
    runtime.register_flow("s", task_flow("s", "sleeper"))
    busy = runtime.start_execution("s", {"sleep": 3})
    deadline = time.monotonic() + 20
    while not runtime.registry.get("FC:InvokeFunction").functions.running():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    waiting = runtime.start_execution("s", {"sleep": 0})
    time.sleep(0.5)
    runtime.stop_execution(waiting.id, "Operator", "not needed")
    assert runtime.wait(waiting.id, 10).status == "Stopped"
    ended = runtime.wait(busy.id, 30)
    assert ended.status == "Succeeded", (ended.error, ended.cause)
    # the wait for an instance is not the function's running time: a queue longer than the timeout succeeds
    rows = [runtime.start_execution("s", {"sleep": 1}) for _ in range(7)]
    assert [runtime.wait(r.id, 60).status for r in rows] == ["Succeeded"] * 7


def test_calls_served_at_once_keep_their_own_output(fn_runtime):
    chatty = ("import sys, time\ndef handler(event, context):\n    for _ in range(5):\n"
              "        print('out', event['n'])\n        print('err', event['n'], file=sys.stderr)\n"
              "        time.sleep(0.1)\n    return event['n']\n")
    runtime = fn_runtime({"chatty": chatty}, functions={"chatty": {"instance_concurrency": 3, "max_instances": 1}})
    runtime.register_flow("c", task_flow("c", "chatty"))
    rows = [runtime.start_execution("c", {"n": n}) for n in range(3)]
    for n, row in enumerate(rows):
        assert runtime.wait(row.id, 60).output["body"] == n
        logs = runtime.store.task_logs(row.id)[0]
        assert logs["stdout"] == f"out {n}\n" * 5 and logs["stderr"] == f"err {n}\n" * 5


def test_too_many_waiting_calls_are_throttled_and_a_dead_idle_instance_is_replaced_quietly(tmp_path):
    import signal

    from stateway.runtime._outcomes import IntegrationError
    from stateway.services.functions import FunctionRuntime

    (tmp_path / "sleeper.py").write_text(SLEEPER)
    (tmp_path / "stateway.toml").write_text("[functions.sleeper]\nmax_instances = 1\nmax_waiting = 0\n")
    rt = FunctionRuntime(tmp_path)
    spec = rt.resolve("acs:fc:::functions/sleeper")
    try:
        pid = rt.invoke(spec, {"sleep": 0}, "r0", "k0")["pid"]
        os.kill(pid, signal.SIGKILL)  # dies while idle: not any call's doing
        time.sleep(0.2)
        info: dict = {}
        again = rt.invoke(spec, {"sleep": 0}, "r1", "k1", info=info)["pid"]
        assert again != pid and info["coldStart"]
        busy = threading.Thread(target=rt.invoke, args=(spec, {"sleep": 2}, "r2", "k2"))
        busy.start()
        deadline = time.monotonic() + 20
        while not rt.running():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        with pytest.raises(IntegrationError) as refused:
            rt.invoke(spec, {"sleep": 0}, "r3", "k3")
        assert refused.value.error == "FC.ResourceThrottled"
        busy.join()
    finally:
        rt.close()
