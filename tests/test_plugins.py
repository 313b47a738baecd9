"""A user's own action, installed as a package with an entry point in `stateway.integrations`."""

import importlib
import sys

PLUGIN = '''
from stateway.runtime import Completed, Integration, IntegrationError


class Shout(Integration):
    action = "TEXT:Shout"
    modes = frozenset({"RequestComplete"})

    def invoke(self, call):
        text = call.parameters.get("text")
        if not isinstance(text, str):
            raise IntegrationError("TEXT.BadText", "text must be a string")
        return Completed({"shouted": text.upper() + "!"})
'''

FLOW = """Type: StateMachine
SpecVersion: v1
StartAt: Shout
States:
  - Type: Task
    Name: Shout
    Action: TEXT:Shout
    Parameters:
      text.$: $Input.text
    End: true
"""


def test_entry_point_integration_validates_and_runs(tmp_path, monkeypatch):
    (tmp_path / "shout_plugin.py").write_text(PLUGIN)
    dist = tmp_path / "shout_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: shout-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[stateway.integrations]\nshout = shout_plugin:Shout\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()

    from stateway.fdl import validate_flow
    from stateway.runtime import IntegrationRegistry, Runtime
    from stateway.store import SQLiteStore

    registry = IntegrationRegistry.default()
    assert registry.modes()["TEXT:Shout"] == frozenset({"RequestComplete"})
    problems = validate_flow(FLOW.replace("Parameters:", "TaskMode: WaitForCustomCallback\n    Parameters:"),
                             registry.modes())
    assert "it supports RequestComplete" in problems[0].message
    with Runtime(SQLiteStore.in_memory(), registry=registry) as runtime:
        runtime.register_flow("shout", FLOW)
        ok = runtime.wait(runtime.start_execution("shout", {"text": "hi"}).id, 10)
        bad = runtime.wait(runtime.start_execution("shout", {"text": 5}).id, 10)
    assert ok.output == {"shouted": "HI!"}
    assert (bad.status, bad.error) == ("Failed", "TEXT.BadText")
    sys.modules.pop("shout_plugin", None)
