import subprocess
import sys
import time

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
