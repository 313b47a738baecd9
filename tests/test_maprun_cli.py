"""`stateway maprun describe|update` against a server, on a Map Run whose children wait for callbacks."""

from __future__ import annotations

import json

from click.testing import CliRunner

from stateway.cli._main import cli
from tests.api.fixtures import KEY_ID, SECRET
from tests.api.test_maprun_sdk import FLOW, child_tokens, until


def test_describe_and_update(server, tmp_path):
    runner = CliRunner(env={"STATEWAY_ENDPOINT": server.endpoint, "ALIBABA_CLOUD_ACCESS_KEY_ID": KEY_ID,
                            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SECRET})

    def ok(*args):
        result = runner.invoke(cli, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout

    (tmp_path / "mr.yaml").write_text(FLOW)
    ok("flow", "create", str(tmp_path / "mr.yaml"), "--name", "mr")
    ok("exec", "start", "mr", "--name", "p", "--input", json.dumps({"items": [1, 2, 3, 4]}))
    history = until(lambda: [e for e in server.runtime.store.history(server.runtime.store.find_execution("mr", "p").id)
                             if e["Type"] == "MapRunStarted"])
    run = history[0]["EventDetail"]["mapRunName"]
    until(lambda: len(child_tokens(server, run)) == 2)
    text = ok("maprun", "describe", "mr", "p", run)
    assert "Running" in text and "PENDING" in text and "concurrency  2" in text
    assert "3" in ok("maprun", "update", "mr", "p", run, "--concurrency", "3")
    until(lambda: len(child_tokens(server, run)) == 3)
    counts = json.loads(ok("maprun", "describe", "mr", "p", run, "--json"))["ItemCounts"]
    assert counts["Running"] == 3 and counts["Pending"] == 1
    children = json.loads(ok("exec", "list", "mr", "--map-run", run, "--json"))
    assert [c["Name"] for c in children] == [f"{run}-0", f"{run}-1", f"{run}-2"]
    usage = runner.invoke(cli, ["maprun", "update", "mr", "p", run])
    assert usage.exit_code == 2
    missing = runner.invoke(cli, ["maprun", "describe", "mr", "p", "0" * 32])
    assert missing.exit_code == 1 and "MapRunNotExists" in missing.output
    ok("exec", "stop", "mr", "p")
