"""The main job (`make demo`) is an example that is also a test."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_order_demo_succeeds_in_all_three_modes():
    out = subprocess.run(["bash", str(ROOT / "examples" / "orders" / "demo.sh")], capture_output=True, text=True,
                         timeout=120, env={"PYTHON": sys.executable, "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout[out.stdout.index("{"):])
    assert result["status"] == "confirmed"
    assert "460" in result["RequestComplete"]
    assert "R-A-1001" in result["WaitForSystemCallback"] and "INV-A-1001" in result["WaitForSystemCallback"]
    assert "'low'" in result["WaitForCustomCallback"]
    assert "worker: order A-1001 scored low" in out.stdout
    # the worker answers the callback task itself: no "complete it with … task succeed" hint (issue 20 §6)
    assert "Complete it with" not in out.stdout + out.stderr


def test_the_demo_worker_uses_the_worker_library():
    source = (ROOT / "examples" / "orders" / "worker.py").read_text()
    assert "from stateway.worker import Worker" in source and '@worker.task(f"mns://' in source
