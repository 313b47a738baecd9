"""--store on the commands: queue commands on PostgreSQL, and clear errors for what cannot work."""

from __future__ import annotations

import json

from click.testing import CliRunner

from stateway.cli._main import cli


def test_queue_commands_on_postgres(pg_url):
    runner = CliRunner()
    sent = runner.invoke(cli, ["queue", "send", "jobs", "hello", "--store", pg_url])
    assert sent.exit_code == 0, sent.output
    listed = runner.invoke(cli, ["queue", "list"], env={"STATEWAY_STORE": pg_url})
    assert listed.exit_code == 0 and "jobs" in listed.output
    received = runner.invoke(cli, ["queue", "receive", "jobs", "--store", pg_url])
    assert received.exit_code == 0, received.output
    message = json.loads(received.output.strip().splitlines()[-1])
    assert message["MessageBody"] == "hello"
    deleted = runner.invoke(cli, ["queue", "delete", "jobs", message["ReceiptHandle"], "--store", pg_url])
    assert deleted.exit_code == 0, deleted.output


def test_run_on_postgres(pg_url, tmp_path):
    flow = tmp_path / "hello.yaml"
    flow.write_text("Type: StateMachine\nName: hello\nSpecVersion: v1\nStartAt: A\nStates:\n"
                    "  - Type: Pass\n    Name: A\n    OutputConstructor: {greeting: hi}\n    End: true\n")
    result = CliRunner().invoke(cli, ["run", str(flow), "--json", "--store", pg_url])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.strip().splitlines()[-1])["output"] == {"greeting": "hi"}


def test_clear_errors(tmp_path):
    runner = CliRunner()
    api_only = runner.invoke(cli, ["serve", "--api-only", "--data-dir", str(tmp_path)], env={"STATEWAY_STORE": ""})
    assert api_only.exit_code == 2 and "--api-only needs a shared store" in api_only.output
    worker = runner.invoke(cli, ["worker"], env={"STATEWAY_STORE": ""})
    assert worker.exit_code == 2 and "a worker needs --store" in worker.output
    both = runner.invoke(cli, ["queue", "list", "--db", str(tmp_path / "x.db"), "--store", "postgresql://x@y/z"])
    assert both.exit_code == 2 and "not both" in both.output
    neither = runner.invoke(cli, ["queue", "list"], env={"STATEWAY_STORE": ""})
    assert neither.exit_code == 2 and "--db FILE or --store URL" in neither.output
    bad = runner.invoke(cli, ["queue", "list", "--store", "mysql://x@y/z"])
    assert bad.exit_code == 2 and "expected postgresql://" in bad.output


def test_queue_commands_read_the_store_from_the_config_file(pg_url, tmp_path, monkeypatch):
    monkeypatch.delenv("STATEWAY_STORE", raising=False)
    config = tmp_path / "stateway.toml"
    config.write_text(f'[store]\nurl = "{pg_url}"\n')
    runner = CliRunner()
    sent = runner.invoke(cli, ["queue", "send", "from-config", "hello", "--config", str(config)])
    assert sent.exit_code == 0, sent.output
    received = runner.invoke(cli, ["queue", "receive", "from-config", "--config", str(config)])
    assert received.exit_code == 0 and json.loads(received.output.strip().splitlines()[-1])["MessageBody"] == "hello"
    neither = runner.invoke(cli, ["queue", "list"])
    assert neither.exit_code == 2 and "--config with [store] url" in neither.output
