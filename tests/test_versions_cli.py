"""`stateway flow publish|versions|alias` and `exec start --qualifier`, as a user types them."""

from __future__ import annotations

import json

from click.testing import CliRunner

from stateway.cli._main import cli
from tests.api.fixtures import KEY_ID, SECRET


def flow(result: str) -> str:
    return ("Type: StateMachine\nSpecVersion: v1\nName: hello\nStartAt: p\nStates:\n  - Type: Pass\n    Name: p\n"
            f"    OutputConstructor:\n      v: {result}\n    End: true\n")


def test_publish_alias_and_start_through_it(server, tmp_path):
    runner = CliRunner(env={"STATEWAY_ENDPOINT": server.endpoint, "ALIBABA_CLOUD_ACCESS_KEY_ID": KEY_ID,
                            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SECRET})

    def ok(*args):
        result = runner.invoke(cli, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout

    (tmp_path / "one.yaml").write_text(flow("one"))
    (tmp_path / "two.yaml").write_text(flow("two"))
    ok("flow", "create", str(tmp_path / "one.yaml"))
    assert "version 1" in ok("flow", "publish", "hello", "--description", "first")
    ok("flow", "update", "hello", str(tmp_path / "two.yaml"))
    assert "version 2" in ok("flow", "publish", "hello")
    table = ok("flow", "versions", "hello")
    assert table.splitlines()[0].split()[:2] == ["VERSION", "CREATED"] and "first" in table
    assert [v["Version"] for v in json.loads(ok("flow", "versions", "hello", "--json"))] == ["2", "1"]
    ok("flow", "alias", "create", "hello", "prod", "--route", "1=100")
    out = json.loads(ok("exec", "start", "hello", "--name", "a", "--qualifier", "prod", "--wait", "--json"))
    assert json.loads(out["Output"]) == {"v": "one"} and out["FlowVersion"] == "1" and out["Qualifier"] == "prod"
    ok("flow", "alias", "update", "hello", "prod", "--route", "2=100")
    out = json.loads(ok("exec", "start", "hello", "--name", "b", "--qualifier", "prod", "--wait", "--json"))
    assert json.loads(out["Output"]) == {"v": "two"}
    assert "2=100" in ok("flow", "alias", "list", "hello")
    refused = runner.invoke(cli, ["flow", "unpublish", "hello", "2"])
    assert refused.exit_code == 1 and "FlowVersionInUse" in refused.output and "prod" in refused.output
    bad = runner.invoke(cli, ["flow", "alias", "create", "hello", "x", "--route", "one=5"])
    assert bad.exit_code == 2 and "VERSION=WEIGHT" in bad.output
    ok("flow", "alias", "delete", "hello", "prod")
    ok("flow", "unpublish", "hello", "2")
    assert [v["Version"] for v in json.loads(ok("flow", "versions", "hello", "--json"))] == ["1"]
