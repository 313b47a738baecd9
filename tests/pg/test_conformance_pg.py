"""Every conformance case on PostgreSQL: through the engine, and through the server with the official SDKs."""

from __future__ import annotations

import os

import pytest

from tests.conformance.harness import case_names, check, free_port, load_case, run_in_engine, run_in_server

CASES = case_names()
KEY_ID, SECRET = "testAK", "testSecret"


@pytest.fixture
def pg_runtime(tmp_path, pg_url):
    from stateway.runtime import Runtime
    from stateway.settings import Settings
    from stateway.store import open_store

    runtimes = []

    def make(functions: dict[str, str] | None = None, **settings):
        fdir = tmp_path / "functions"
        fdir.mkdir(exist_ok=True)
        for name, source in (functions or {}).items():
            (fdir / f"{name}.py").write_text(source)
        runtime = Runtime(open_store(pg_url), settings=Settings.from_config(settings, functions_dir=fdir)).start()
        runtimes.append(runtime)
        return runtime

    yield make
    for runtime in runtimes:
        runtime.close()
        runtime.store.close()


@pytest.fixture
def pg_server(tmp_path, pg_url):
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        os.environ.pop(proxy, None)
    from stateway.api import BackgroundServer, create_app
    from stateway.runtime import Runtime
    from stateway.settings import Settings
    from stateway.store import open_store

    functions_dir = tmp_path / "functions"
    functions_dir.mkdir()
    port = free_port()
    endpoint = f"127.0.0.1:{port}"
    settings = Settings.from_config(functions_dir=functions_dir, function_env={
        "STATEWAY_ENDPOINT": endpoint, "ALIBABA_CLOUD_ACCESS_KEY_ID": KEY_ID,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SECRET})
    runtime = Runtime(open_store(pg_url), settings=settings).start()
    app = create_app(runtime, {KEY_ID: SECRET}, endpoint)
    server = BackgroundServer(app, "127.0.0.1", port).start()
    server.runtime = runtime
    server.functions_dir = functions_dir
    yield server
    server.stop()
    app.state.service.close()
    runtime.close()
    runtime.store.close()


@pytest.mark.parametrize("name", CASES)
def test_case_through_engine_on_postgres(name, pg_runtime):
    case = load_case(name)
    check(case, run_in_engine(case, pg_runtime))


@pytest.mark.parametrize("name", CASES)
def test_case_through_server_on_postgres(name, pg_server):
    from alibabacloud_fnf20190315.client import Client
    from alibabacloud_tea_openapi import utils_models as om
    from mns.account import Account

    fnf = Client(om.Config(access_key_id=KEY_ID, access_key_secret=SECRET, endpoint=pg_server.endpoint,
                           protocol="http", read_timeout=70000))
    case = load_case(name)
    account = Account(f"http://{pg_server.endpoint}", KEY_ID, SECRET)
    check(case, run_in_server(case, fnf, account, pg_server.functions_dir))
