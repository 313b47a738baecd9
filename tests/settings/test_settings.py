"""Settings: read once, typed, checked with a message naming the section and key; one composition
root; integrations see a narrow context."""

from __future__ import annotations

import dataclasses
import json

import pytest
from click.testing import CliRunner

from stateway.settings import DEFAULT_LEASE_SECONDS, Settings, SettingsError


def test_defaults_are_documented_values():
    settings = Settings()
    assert settings.store.lease_seconds == DEFAULT_LEASE_SECONDS == 6.0
    assert (settings.store.pool_size, settings.store.statement_timeout) == (10, 30.0)
    assert (settings.express.keep, settings.express.keep_seconds) == (1000, 600.0)
    assert settings.limits.events == 25_000 and settings.limits.payload_bytes == 64 * 1024
    assert settings.limits.table["map_items"] == 10_000 and settings.limits.table["v1_step_bytes"] == 32 * 1024
    assert settings.functions.async_workers == 8 and settings.dispatch_threads == 64
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.dispatch_threads = 3  # type: ignore[misc]


def test_load_reads_file_then_environment_then_flags(tmp_path):
    bucket = tmp_path / "bucket"
    bucket.mkdir()
    config = tmp_path / "stateway.toml"
    config.write_text(f"""
[store]
url = "postgresql://from-file@h/db"
lease_seconds = 4
pool_size = 3
[limits]
events = 500
execution_seconds = 0
[express]
keep = 5
[http]
deny = ["10.0.0.0/8", "*.internal"]
[oss_buckets]
data = "{bucket}"
[functions.stock]
command = "echo {{}}"
timeout = 2
[[access_keys]]
id = "a"
secret = "s"
""")
    settings = Settings.load(config, env={})
    assert settings.store.url == "postgresql://from-file@h/db" and settings.store.shared
    assert settings.store.open_options()["pool_size"] == 3 and settings.store.lease_seconds == 4.0
    assert settings.limits.events == 500 and settings.limits.execution_seconds == 0
    assert settings.express.keep == 5 and settings.express.keep_seconds == 600.0
    assert settings.http.deny == ("10.0.0.0/8", "*.internal")
    assert dict(settings.oss_buckets) == {"data": str(bucket)}
    assert settings.functions.entries["stock"]["timeout"] == 2
    assert dict(settings.access_keys) == {"a": "s"}
    from_env = Settings.load(config, env={"STATEWAY_STORE": "sqlite:///env.db", "STATEWAY_ACCESS_KEYS": "b:t"})
    assert from_env.store.url == "sqlite:///env.db" and not from_env.store.shared
    assert dict(from_env.access_keys) == {"a": "s", "b": "t"}
    flagged = Settings.load(config, env={"STATEWAY_STORE": "x.db"}, store_url="flag.db", functions_dir=tmp_path)
    assert flagged.store.url == "flag.db" and flagged.functions.directory == str(tmp_path)
    assert "secret" not in repr(flagged.with_function_env({"ALIBABA_CLOUD_ACCESS_KEY_SECRET": "secret"}))


@pytest.mark.parametrize(("config", "message"), [
    ({"store": {"lease_seconds": "soon"}}, "[store] lease_seconds must be a number"),
    ({"store": {"lease_seconds": 0.2}}, "[store] lease_seconds must be between 1 and 600"),
    ({"store": {"pool_sise": 3}}, "[store] has no setting 'pool_sise'; did you mean 'pool_size'?"),
    ({"limits": {"event": 3}}, "did you mean 'events'?"),
    ({"limits": {"payload_bytes": 0}}, "[limits] payload_bytes must be at least 1"),
    ({"limits": {"events": 1.5}}, "[limits] events must be a whole number"),
    ({"limits": 5}, "[limits] must be a table"),
    ({"express": {"keep": -1}}, "[express] keep must be at least 0"),
    ({"http": {"allow": "10.0.0.0/8"}}, "[http] allow must be a list"),
    ({"http": {"deny": ["10.0.0.0/33"]}}, "[http] deny: '10.0.0.0/33' is neither"),
    ({"http": {"block": []}}, "[http] takes allow, deny and internal, not block"),
    ({"http": {"internal": "maybe"}}, "[http] internal must be \"auto\", \"allow\" or \"deny\""),
    ({"dispatch": {"HTTP": 0}}, "[dispatch] HTTP must be between 1 and 10000"),
    ({"dispatch": {"FC": "many"}}, "[dispatch] FC must be a whole number"),
    ({"oss_buckets": {"data": "/no/such/dir"}}, "[oss_buckets] data: '/no/such/dir' is not a directory"),
    ({"functions": {"stock": {"timeot": 3}}}, "[functions.stock] has no setting 'timeot'; did you mean 'timeout'?"),
    ({"functions": {"stock": {"url": "http://x", "file": "x.py"}}}, "[functions.stock] takes one of url, command or file"),
    ({"functions": {"stock": "x"}}, "[functions] has no setting 'stock'"),
    ({"functions": {"max_instances": 0}}, "[functions] max_instances must be between 1 and 10000"),
    ({"functions": {"reuse": "no"}}, "[functions] reuse must be true or false"),
    ({"functions": {"stock": {"memory_mb": 1.5}}}, "[functions.stock] memory_mb must be a whole number"),
    ({"functions": {"stock": {"environment": {"A": 1}}}}, "[functions.stock] environment must be a table of text"),
    ({"access_keys": [{"id": "a"}]}, "[[access_keys]] entries need a non-empty id and secret"),
    ({"limit": {}}, "the config file has no section 'limit'; did you mean 'limits'?"),
])
def test_a_bad_value_names_its_section_and_key(config, message):
    with pytest.raises(SettingsError) as caught:
        Settings.from_config(config)
    assert message in str(caught.value)


def test_a_bad_config_file_is_a_usage_error_at_every_command(tmp_path):
    from stateway.cli._main import cli

    config = tmp_path / "bad.toml"
    config.write_text("[store]\nlease_seconds = 'soon'\n")
    flow = tmp_path / "f.yaml"
    flow.write_text("Type: StateMachine\nSpecVersion: v1\nName: f\nStartAt: P\nStates:\n"
                    "  - {Type: Pass, Name: P, End: true}\n")
    runner = CliRunner()
    for args in (["run", str(flow)], ["serve", "--data-dir", str(tmp_path / "d")],
                 ["worker", "--store", "postgresql://x@127.0.0.1:1/db"]):
        result = runner.invoke(cli, [*args, "--config", str(config)], env={"STATEWAY_STORE": ""})
        assert result.exit_code == 2, (args, result.output)
        assert f"--config {config}: [store] lease_seconds must be a number" in result.output, result.output


def test_run_gives_functions_the_endpoint_without_touching_the_process_environment(tmp_path, monkeypatch):
    """The callback endpoint is known before the function runtime is built: no os.environ update."""
    import os

    from stateway.cli._main import cli

    monkeypatch.delenv("STATEWAY_ENDPOINT", raising=False)
    functions = tmp_path / "functions"
    functions.mkdir()
    (functions / "where.py").write_text("import os\n\ndef handler(event, context):\n"
                                        "    return {'endpoint': os.environ.get('STATEWAY_ENDPOINT'),\n"
                                        "            'key': os.environ.get('ALIBABA_CLOUD_ACCESS_KEY_ID')}\n")
    flow = tmp_path / "where.yaml"
    flow.write_text("Type: StateMachine\nSpecVersion: v1\nName: where\nStartAt: W\nStates:\n"
                    "  - Type: Task\n    Name: W\n    Action: FC:InvokeFunction\n"
                    "    Parameters: {resourceArn: 'acs:fc:::functions/where', body: {}}\n    End: true\n")
    result = CliRunner().invoke(cli, ["run", str(flow), "--functions", str(functions), "--json"],
                                env={"STATEWAY_STORE": ""})
    assert result.exit_code == 0, result.output
    body = json.loads(result.output.strip().splitlines()[-1])["output"]["Body"]
    assert body["endpoint"].startswith("127.0.0.1:") and body["key"] == "test"
    assert "STATEWAY_ENDPOINT" not in os.environ


def test_composition_root_builds_starts_and_closes(tmp_path):
    from stateway.node import build

    settings = Settings.from_config({"limits": {"events": 50}}, data_dir=str(tmp_path / "data"))
    with build(settings, engine_lock=True) as node:
        assert node.runtime.settings is settings and node.runtime.lease == 6.0
        node.runtime.register_flow("p", "Type: StateMachine\nSpecVersion: v1\nStartAt: P\nStates:\n"
                                        "  - {Type: Pass, Name: P, End: true}\n")
        row = node.runtime.wait(node.runtime.start_execution("p", {}).id, 10)
        assert row.status == "Succeeded"
        from stateway.store import DatabaseInUse

        with pytest.raises(DatabaseInUse):  # one engine per SQLite file
            build(settings, engine_lock=True)
    again = build(settings, engine_lock=True)  # the lock went with the node
    again.close()


def test_runtime_refuses_an_untyped_settings_dict():
    from stateway.runtime import Runtime
    from stateway.store import SQLiteStore

    with pytest.raises(TypeError, match="Settings"):
        Runtime(SQLiteStore.in_memory(), settings={"limits": {}})  # type: ignore[arg-type]


def test_integrations_get_the_narrow_context_not_the_runtime():
    from stateway.runtime import Completed, Integration, IntegrationRegistry, Runtime, Submitted
    from stateway.store import SQLiteStore

    seen = {}

    class Later(Integration):
        """Answers later, from another thread, through the context alone."""

        action = "TEST:Later"
        modes = frozenset({"WaitForCustomCallback"})

        def invoke(self, call):
            seen["context"] = self.context
            self.context.complete_task(call.execution_id, call.task_id, Completed({"at": self.context.now()}))
            return Submitted()

    flow = ("Type: StateMachine\nSpecVersion: v1\nStartAt: L\nStates:\n"
            "  - {Type: Task, Name: L, Action: 'TEST:Later', TaskMode: WaitForCustomCallback, End: true}\n")
    with Runtime(SQLiteStore.in_memory(), registry=IntegrationRegistry.default([Later])) as runtime:
        runtime.register_flow("later", flow)
        row = runtime.wait(runtime.start_execution("later", {}).id, 10)
    assert row.status == "Succeeded" and "at" in row.output, row
    context = seen["context"]
    assert not hasattr(context, "store") and not hasattr(context, "process")
    assert context.settings is runtime.settings and context.owner == runtime.owner
