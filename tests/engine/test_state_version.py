"""The stored execution state carries a version: an older state is upgraded and runs on, a newer one fails clearly.

``state_v0_callback.json`` is the stored state of ``upgrade_flow.yaml`` blocked on its callback task, as written
by Stateway before states had a version (captured from that code, execution "resume-me", input {"order": 7})."""

import json
import sqlite3
import time
from pathlib import Path

import pytest

from stateway.engine import STATE_VERSION, Interpreter, StateVersionError, new_execution_state, upgrade_state
from stateway.fdl import load_flow
from stateway.runtime import Runtime
from stateway.store import SQLiteStore

HERE = Path(__file__).parent
FLOW = (HERE / "upgrade_flow.yaml").read_text()
V0_STATE = json.loads((HERE / "state_v0_callback.json").read_text())


def test_a_new_state_has_the_current_version():
    assert STATE_VERSION == 1
    assert new_execution_state("e", "f", {}, 1.0)["version"] == STATE_VERSION


def test_upgrade_from_0_adds_the_version_and_leaves_its_argument_alone():
    assert "version" not in V0_STATE
    upgraded = upgrade_state(V0_STATE)
    assert upgraded == {**V0_STATE, "version": 1}
    assert "version" not in V0_STATE
    assert upgrade_state(upgraded) is upgraded  # a current state: nothing to do, no copy
    partial = upgrade_state({"status": "Running", "name": "e", "flow": "f", "input": {}, "started": 1.0})
    assert partial["frames"] == {} and partial["timers"] == {} and partial["event_id"] == 0


def test_a_newer_or_malformed_version_is_refused_by_name():
    with pytest.raises(StateVersionError, match="version 99, written by a newer Stateway; this one reads versions "
                                                "up to 1"):
        upgrade_state({**V0_STATE, "version": 99})
    with pytest.raises(StateVersionError, match="'1'"):
        upgrade_state({**V0_STATE, "version": "1"})
    interp = Interpreter(load_flow(FLOW))
    with pytest.raises(StateVersionError):
        interp.decide({**V0_STATE, "version": 2}, {"type": "continue"}, 1.0, lambda t: t)


def _parked(db: str) -> tuple[int, str, dict]:
    with Runtime(SQLiteStore(db)) as runtime:
        runtime.register_flow("upgrade", FLOW)
        row = runtime.start_execution("upgrade", {"order": 7}, name="resume-me")
        deadline = time.monotonic() + 20
        while not runtime.store.open_tasks(row.id):
            assert time.monotonic() < deadline, "the execution never reached its callback task"
            time.sleep(0.02)
        token = runtime.store.open_tasks(row.id)[0]["token"]
    return row.id, token, SQLiteStore(db).get_execution(row.id).state


def _write_state(db: str, execution_id: int, state: dict) -> None:
    with sqlite3.connect(db) as conn:  # as a database written by the earlier Stateway holds it
        conn.execute("UPDATE executions SET state=? WHERE id=?", (json.dumps(state), execution_id))


def test_a_state_stored_without_a_version_resumes_and_finishes(tmp_path):
    db = str(tmp_path / "old.db")
    execution_id, token, state = _parked(db)
    assert state["version"] == STATE_VERSION
    # the earlier Stateway stored the same state, less the version: the fixture proves the shape did not change
    assert {k: v for k, v in state.items() if k != "version"} == {**V0_STATE, "started": state["started"]}
    _write_state(db, execution_id, {**V0_STATE, "started": state["started"]})
    with Runtime(SQLiteStore(db)) as runtime:
        runtime.report_success(token, {"approved": True})
        ended = runtime.wait(execution_id, timeout=30)
        assert ended.status == "Succeeded", (ended.error, ended.cause)
        assert ended.output == {"order": 7, "approved": True, "step": 2}
        assert ended.state["version"] == STATE_VERSION
        types = [e["Type"] for e in runtime.store.history(execution_id)]
    # the history goes on from where the earlier Stateway left it
    assert types[:8] == ["ExecutionStarted", "StepEntered", "StepExited", "StepEntered", "StepStarted",
                         "TaskScheduled", "TaskSubmitted", "TaskSucceeded"]
    assert types[-1] == "ExecutionSucceeded" and "StepEntered" in types[8:]


def test_a_state_from_a_newer_stateway_fails_the_execution_naming_the_versions(tmp_path):
    db = str(tmp_path / "new.db")
    execution_id, token, state = _parked(db)
    _write_state(db, execution_id, {**state, "version": 99})
    with Runtime(SQLiteStore(db)) as runtime:
        runtime.report_success(token, {"approved": True})
        ended = runtime.wait(execution_id, timeout=30)
    assert ended.status == "Failed" and ended.error == "FnF.RuntimeError"
    assert "StateVersionError" in ended.cause and "version 99" in ended.cause and "up to 1" in ended.cause
