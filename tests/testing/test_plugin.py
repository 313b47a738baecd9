"""The plugin comes with the package: a test file anywhere gets the `stateway` fixture without a conftest."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys


def test_the_entry_point_is_registered():
    found = [e for e in importlib.metadata.entry_points(group="pytest11") if e.name == "stateway"]
    assert [e.value for e in found] == ["stateway.testing.plugin"]


def test_a_test_file_outside_the_project_uses_the_fixture(tmp_path):
    (tmp_path / "test_mine.py").write_text('''
FLOW = """Type: StateMachine
Name: mine
SpecVersion: v1
StartAt: Nap
States:
  - Type: Wait
    Name: Nap
    Seconds: 2592000
    End: true
"""

def test_a_month_goes_by(stateway):
    result = stateway.run(stateway.register(FLOW))
    assert result.status == "Succeeded" and result.duration == 2592000
''')
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 passed" in out.stdout
