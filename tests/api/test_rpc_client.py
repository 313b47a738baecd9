"""Stateway's own RPC client (``stateway.client``): plain HTTP over one keep-alive connection per
thread, a fresh connection when the server has closed the old one, errors as ``ApiCallError``, and
httpx still used where the environment names a proxy."""

from __future__ import annotations

import threading

import pytest

from stateway.client import ApiCallError, RpcClient, _lean_target
from tests.api.fixtures import KEY_ID, SECRET, server  # noqa: F401  (the fixture)

FLOW = "Type: StateMachine\nSpecVersion: v1\nStartAt: P\nStates:\n  - {Type: Pass, Name: P, End: true}\n"


def test_calls_reuse_one_connection_per_thread_and_reconnect(server):  # noqa: F811
    client = RpcClient(server.endpoint, KEY_ID, SECRET)
    client.call("CreateFlow", Name="f", Definition=FLOW, Description="", Type="FDL")
    first = client._local.conn
    assert client.call("DescribeFlow", Name="f")["Name"] == "f"  # a GET on the same connection
    assert client._local.conn is first
    started = client.call("StartExecution", FlowName="f", ExecutionName="e1", Input='{"a": "é & = ?"}')
    assert started["Name"] == "e1" and client._local.conn is first
    first.sock.close()  # as a server closing an idle connection: the next call opens another
    first.sock = None
    assert client.call("DescribeExecution", FlowName="f", ExecutionName="e1")["Input"] == '{"a": "é & = ?"}'
    names: list[str] = []

    def other_thread() -> None:
        names.append(client.call("DescribeFlow", Name="f")["Name"])
        names.append(str(client._local.conn is not first))
    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join(30)
    assert names == ["f", "True"]


def test_errors_are_api_call_errors(server):  # noqa: F811
    client = RpcClient(server.endpoint, KEY_ID, SECRET)
    with pytest.raises(ApiCallError) as missing:
        client.call("DescribeFlow", Name="nope")
    assert (missing.value.status, missing.value.code) == (404, "FlowNotExists")
    with pytest.raises(ApiCallError) as refused:
        RpcClient(server.endpoint, KEY_ID, "wrong").call("ListFlows")
    assert refused.value.status >= 400 and refused.value.status < 500
    server.stop()
    with pytest.raises(ApiCallError) as gone:
        client.call("ListFlows")
    assert (gone.value.status, gone.value.code) == (0, "ConnectionError")


def test_proxies_and_https_go_through_httpx(monkeypatch):
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert _lean_target("http://127.0.0.1:8765") == ("127.0.0.1", 8765, "")
    assert _lean_target("http://[::1]:8765/base/") == ("::1", 8765, "/base")
    assert _lean_target("https://example.invalid") is None
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    assert _lean_target("http://10.1.2.3:8765") is None
    monkeypatch.setenv("NO_PROXY", "10.1.2.3")
    assert _lean_target("http://10.1.2.3:8765") == ("10.1.2.3", 8765, "")


def test_the_signed_text_is_what_the_server_checks():
    from urllib.parse import parse_qsl, quote

    from stateway.api._signature import pct, rpc_v1_signature, signed_rpc_v1_text

    for text in ("", "plain-Name_1.2~", "a b", "é+&=%/?:中", "{\"x\": [1, 2]}", "~tilde~"):
        assert pct(text) == quote(text, safe="~")
    params = {"FlowName": "f", "Input": '{"s": "é +&=%~ \\u00e9"}', "a b": "c+d", "Z": ""}
    pairs = parse_qsl(signed_rpc_v1_text("POST", "StartExecution", params, "id", "secret"), keep_blank_values=True)
    query = dict(pairs)
    signature = query.pop("Signature")
    assert rpc_v1_signature("POST", query, "secret") == signature
    assert {k: query[k] for k in params} == params and query["Action"] == "StartExecution"
