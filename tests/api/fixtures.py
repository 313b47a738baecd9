from __future__ import annotations

import os

import pytest

from tests.conformance.harness import free_port

KEY_ID, SECRET = "testAK", "testSecret"


@pytest.fixture
def server(tmp_path):
    """A Stateway API server on 127.0.0.1 with its own database and functions folder."""
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        os.environ.pop(proxy, None)
    from stateway.api import BackgroundServer, create_app
    from stateway.runtime import Runtime
    from stateway.settings import Settings
    from stateway.store import SQLiteStore

    functions_dir = tmp_path / "functions"
    functions_dir.mkdir()
    port = free_port()
    endpoint = f"127.0.0.1:{port}"
    settings = Settings.from_config(functions_dir=functions_dir, function_env={
        "STATEWAY_ENDPOINT": endpoint, "ALIBABA_CLOUD_ACCESS_KEY_ID": KEY_ID,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SECRET})
    runtime = Runtime(SQLiteStore(str(tmp_path / "api.db")), settings=settings).start()
    app = create_app(runtime, {KEY_ID: SECRET}, endpoint)
    server = BackgroundServer(app, "127.0.0.1", port).start()
    server.runtime = runtime
    server.functions_dir = functions_dir
    yield server
    server.stop()
    app.state.service.close()
    runtime.close()




@pytest.fixture
def fnf(server):
    """The official SDK's client, pointed at the server."""
    from alibabacloud_fnf20190315.client import Client
    from alibabacloud_tea_openapi import utils_models as om

    return Client(om.Config(access_key_id=KEY_ID, access_key_secret=SECRET, endpoint=server.endpoint,
                            protocol="http", read_timeout=70000))
