"""Function steps: a flow of five Tasks calling a local Python function, run with warm instances
(``reuse = true``, the default) and with a process per call (``reuse = false``), on one SQLite
store in this process. Reports executions per second and the CPU per function step of every
process together: the engine, the instances it still runs, and the ones it reaped.

Run alone: ``python -m bench --only functions`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from stateway.runtime import Runtime
from stateway.settings import Settings
from stateway.store import SQLiteStore

STEPS = 5
FUNCTION = "def handler(event, context):\n    return {'n': event.get('n', 0) + 1}\n"


def five_step_flow() -> str:
    states = []
    for i in range(STEPS):
        last = i == STEPS - 1
        states.append(f"  - Type: Task\n    Name: S{i}\n    Action: FC:InvokeFunction\n    Parameters:\n"
                      f"      resourceArn: acs:fc:::functions/step\n      body:\n        n.$: $Input.n\n"
                      f"    OutputConstructor:\n      n.$: $Output.Body.n\n"
                      + ("    End: true\n" if last else f"    Next: S{i + 1}\n"))
    return "Type: StateMachine\nSpecVersion: v1\nName: five\nStartAt: S0\nStates:\n" + "".join(states)


def _tick_seconds(ticks: int) -> float:
    return ticks / os.sysconf("SC_CLK_TCK")


def _process_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return _tick_seconds(int(fields[11]) + int(fields[12]))  # utime, stime


def _instance_pids(runtime: Runtime) -> list[int]:
    functions = runtime.registry.get("FC:InvokeFunction").functions  # type: ignore[attr-defined]
    with functions.instances._lock:
        pools = list(functions.instances._pools.values())
    return [i.proc.pid for p in pools for i in p.instances if not i.dead]


def run_five_step(executions: int, reuse: bool) -> dict[str, float]:
    directory = Path(tempfile.mkdtemp(prefix="bench-fn-"))
    (directory / "functions").mkdir()
    (directory / "functions" / "step.py").write_text(FUNCTION)
    settings = Settings.from_config({"functions": {"reuse": reuse}}, functions_dir=directory / "functions")
    runtime = Runtime(SQLiteStore(str(directory / "bench.db")), settings=settings).start()
    try:
        runtime.register_flow("five", five_step_flow())
        runtime.wait(runtime.start_execution("five", {"n": 0}).id, 120)  # warm-up: the first instance
        before = {pid: _process_cpu(pid) for pid in _instance_pids(runtime)}
        self_before = resource.getrusage(resource.RUSAGE_SELF)
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.perf_counter()
        rows = [runtime.start_execution("five", {"n": 0}) for _ in range(executions)]
        for row in rows:
            ended = runtime.wait(row.id, 600)
            assert ended.status == "Succeeded" and ended.output == {"n": STEPS}, (ended.error, ended.cause)
        seconds = time.perf_counter() - began
        live_cpu = sum(_process_cpu(pid) - before.get(pid, 0.0) for pid in _instance_pids(runtime))
        self_after = resource.getrusage(resource.RUSAGE_SELF)
        children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        runtime.close()
    engine = (self_after.ru_utime + self_after.ru_stime) - (self_before.ru_utime + self_before.ru_stime)
    reaped = ((children_after.ru_utime + children_after.ru_stime)
              - (children_before.ru_utime + children_before.ru_stime))
    functions = max(reaped + live_cpu, 0.0)
    steps = executions * STEPS
    return {"executions_per_s": executions / seconds, "cpu_ms_per_step": 1000 * (engine + functions) / steps,
            "engine_cpu_ms_per_step": 1000 * engine / steps, "function_cpu_ms_per_step": 1000 * functions / steps,
            "seconds": seconds, "executions": executions}


def function_steps(quick: bool) -> dict[str, Any]:
    """Both modes, taking turns; the median of each figure over the runs."""
    executions = 30 if quick else 300
    runs = 1 if quick else 3
    samples: dict[str, list[dict[str, float]]] = {"warm": [], "per_call": []}
    per_call = max(executions // 3, 30)  # a process per call is slow: fewer executions give the same figures
    for _ in range(runs):
        samples["warm"].append(run_five_step(executions, reuse=True))
        samples["per_call"].append(run_five_step(per_call, reuse=False))
    out: dict[str, Any] = {"executions": executions, "per_call_executions": per_call, "runs": runs}
    for mode, got in samples.items():
        for key in ("executions_per_s", "cpu_ms_per_step", "engine_cpu_ms_per_step", "function_cpu_ms_per_step"):
            values = sorted(g[key] for g in got)
            out[f"{mode}_{key}"] = values[len(values) // 2]
    out["speedup"] = out["warm_executions_per_s"] / out["per_call_executions_per_s"]
    out["cpu_ratio"] = out["per_call_cpu_ms_per_step"] / out["warm_cpu_ms_per_step"]
    return out


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(function_steps("--quick" in sys.argv), indent=2))


def markdown(results: dict[str, Any]) -> str:
    """docs/benchmarks.md's section (empty when the workload did not run)."""
    f = results.get("functions")
    if not f:
        return ""
    return ("\n## Function steps: warm instances against a process per call\n\n"
            f"A flow of {STEPS} Tasks calling a local Python function, {f['executions']} executions "
            f"({f.get('per_call_executions', f['executions'])} with a process per call) started at once on SQLite, "
            f"median of {f['runs']} run(s), the two modes taking turns. CPU is every process together "
            "(engine, instances, reaped processes), per function step.\n\n"
            "| mode | executions/s | CPU per step | engine | functions |\n| --- | --- | --- | --- | --- |\n"
            + "".join(f"| {label} | {f[m + '_executions_per_s']:.1f} | {f[m + '_cpu_ms_per_step']:.2f} ms | "
                      f"{f[m + '_engine_cpu_ms_per_step']:.2f} ms | {f[m + '_function_cpu_ms_per_step']:.2f} ms |\n"
                      for label, m in (("warm instances (`reuse = true`)", "warm"),
                                       ("a process per call (`reuse = false`)", "per_call")))
            + f"\nWarm instances: {f['speedup']:.1f}× the throughput, {f['cpu_ratio']:.1f}× less CPU per step.\n")
