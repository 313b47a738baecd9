"""``run.cli_over_engine``: what ``stateway run`` adds to a long loop, beyond the engine's own time.

Both are timed the same way, from the execution's start and stop as the store recorded them, so the
process start-up (interpreter, imports) is left out and the CLI's progress listener, which runs on
the engine's thread, is inside the span. The bound used to be asserted by tests/test_cli.py; a
timing bound that tight belongs here (the test now only catches a hang).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.test_cli import LOOP


def _span(db: str) -> float:
    from stateway.store import SQLiteStore

    store = SQLiteStore(db)
    try:
        row = store.list_executions(flow_name="loop")[0]
    finally:
        store.close()
    if row.status != "Succeeded":
        raise RuntimeError(f"the loop ended {row.status}")
    return row.stopped - row.started


def engine_seconds(source: str, tmp: Path) -> float:
    from stateway.runtime import Runtime
    from stateway.store import SQLiteStore

    db = str(tmp / f"e{time.monotonic_ns()}.db")
    with Runtime(SQLiteStore(db)) as runtime:
        runtime.register_flow("loop", source)
        runtime.wait(runtime.start_execution("loop", {}).id, 600)
    return _span(db)


def cli_seconds(flow: Path, tmp: Path) -> float:
    db = str(tmp / f"c{time.monotonic_ns()}.db")
    subprocess.run([sys.executable, "-m", "stateway.cli", "run", str(flow), "--db", db], check=True,
                   capture_output=True, timeout=600)
    return _span(db)


def cli_over_engine(transitions: int, runs: int) -> dict[str, float]:
    """The best of ``runs`` each way (the least disturbed), and their ratio."""
    source = LOOP % (transitions // 2)
    with tempfile.TemporaryDirectory() as tmp:
        flow = Path(tmp) / "flow.yaml"
        flow.write_text(source)
        engine = min(engine_seconds(source, Path(tmp)) for _ in range(runs))
        cli = min(cli_seconds(flow, Path(tmp)) for _ in range(runs))
    return {"engine_s": engine, "cli_s": cli, "cli_over_engine": cli / engine}
