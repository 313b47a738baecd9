"""Access policies (docs/api.md, "Access policies"): every action against a key whose allow list
leaves it out, through the raw signed client (all of them) and the official SDK (a few); flow and
queue name patterns, with lists that show only what the key may see; the service layer given a key."""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import json
import os
import time

import httpx
import pytest
from alibabacloud_fnf20190315 import models as m
from alibabacloud_tea_openapi.exceptions import ClientException

from stateway.api._actions import ACTIONS, ASYNC_ACTIONS
from stateway.api._maprun import MAP_RUN_ACTIONS
from stateway.api._signature import sign_rpc_v1
from stateway.api._versions import VERSION_ACTIONS
from stateway.policies import MNS_ACTIONS, ROLES, AccessDenied, Keyring, Policy
from tests.console.flows import APPROVAL

ADMIN, SECRET = "admin", "adminSecret"
ALL_ACTIONS = sorted({*ACTIONS, *ASYNC_ACTIONS, *VERSION_ACTIONS, *MAP_RUN_ACTIONS})
PASS = """Type: StateMachine
SpecVersion: v1
StartAt: P
States:
  - Type: Pass
    Name: P
    End: true
"""


def _without(action: str) -> Policy:
    """Every RPC action and MNS operation but ``action``, named one by one."""
    return Policy(allow=tuple(f"fnf:{a}" for a in ALL_ACTIONS if a != action)
                  + tuple(f"mns:{a}" for a in MNS_ACTIONS if f"mns:{a}" != action))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        os.environ.pop(proxy, None)
    from stateway.api import BackgroundServer, create_app
    from stateway.runtime import Runtime
    from stateway.store import SQLiteStore

    tmp = tmp_path_factory.mktemp("policies")
    secrets = {ADMIN: SECRET, "orders": SECRET, "readonly": SECRET, "operator": SECRET}
    policies = {"orders": Policy(flows=("orders-*",), queues=("orders-*",)),
                "readonly": Policy.parse({"role": "readonly"}), "operator": Policy.parse({"role": "operator"})}
    for action in ALL_ACTIONS:
        secrets[f"no-{action}"] = SECRET
        policies[f"no-{action}"] = _without(action)
    for operation in MNS_ACTIONS:
        secrets[f"no-mns-{operation}"] = SECRET
        policies[f"no-mns-{operation}"] = _without(f"mns:{operation}")
    keyring = Keyring(secrets, policies)
    runtime = Runtime(SQLiteStore(str(tmp / "p.db"))).start()
    app = create_app(runtime, keyring)
    http = BackgroundServer(app).start()
    http.runtime, http.keyring, http.url = runtime, keyring, f"http://{http.endpoint}/"
    for name in ("orders-eu", "orders-us", "billing"):
        call(http, ADMIN, "CreateFlow", Name=name, Definition=APPROVAL.replace("approval", name), Type="FDL",
             Description="")
    for name in ("orders-eu", "billing"):
        assert call(http, ADMIN, "StartExecution", FlowName=name, ExecutionName="e1").status_code == 200
    deadline = time.monotonic() + 30
    while len(runtime.store.open_tasks_of(None)) < 2:
        assert time.monotonic() < deadline, "the callback tasks did not open"
        time.sleep(0.05)
    yield http
    http.stop(force=True)
    app.state.service.close()
    runtime.close()


def call(server, key: str, action: str, **params: str) -> httpx.Response:
    query = sign_rpc_v1("POST", action, params, key, SECRET)
    form = {k: query.pop(k) for k in params}
    return httpx.post(server.url, params=query, data=form, timeout=30)


def sdk(server, key: str):
    from alibabacloud_fnf20190315.client import Client
    from alibabacloud_tea_openapi import utils_models as om

    return Client(om.Config(access_key_id=key, access_key_secret=SECRET, endpoint=server.endpoint, protocol="http"))


def token_of(server, flow: str) -> str:
    return next(t["token"] for t in server.runtime.store.open_tasks_of(flow))


def params_for(action: str, flow: str, token: str) -> dict[str, str]:
    """Parameters that name ``flow`` the way ``action`` does (its resource)."""
    if action in ("CreateFlow", "UpdateFlow", "DescribeFlow", "DeleteFlow"):
        return {"Name": flow, "Definition": PASS}
    if action.startswith("ReportTask"):
        return {"TaskToken": token, "Output": "{}", "Error": "E"}
    return {"FlowName": flow, "ExecutionName": "e1", "Name": "a", "ScheduleName": "s", "MapRunName": "m",
            "FlowVersion": "1", "CronExpression": "0 * * * * *"}


def assert_denied(response: httpx.Response, action: str) -> dict:
    assert response.status_code == 403, (action, response.text)
    body = response.json()
    assert set(body) == {"RequestId", "HostId", "Code", "Message"} and body["Code"] == "AccessDenied", body
    assert f"fnf:{action}" in body["Message"], body
    return body


@pytest.mark.parametrize("action", ALL_ACTIONS)
def test_every_action_is_refused_to_a_key_whose_allow_list_leaves_it_out(server, action):
    params = params_for(action, "billing", token_of(server, "billing"))
    body = assert_denied(call(server, f"no-{action}", action, **params), action)
    if action not in ("ListFlows", "ListOpenTasks", "DescribeRegions"):
        assert "billing" in body["Message"], "the refusal names the resource"
    # another key that lacks another action may do this one: the refusal was the policy's
    other = "no-DescribeRegions" if action != "DescribeRegions" else "no-ListFlows"
    if action in ("ListFlows", "DescribeRegions", "ListOpenTasks", "DescribeFlow", "ListExecutions",
                  "GetExecutionHistory", "ListSchedules", "ListFlowVersions", "ListFlowAliases"):
        assert call(server, other, action, **params).status_code == 200


@pytest.mark.parametrize("action", ALL_ACTIONS)
def test_a_key_limited_to_some_flows_is_refused_every_action_on_the_others(server, action):
    if action in ("ListFlows", "DescribeRegions"):
        return  # no flow of their own: they are filtered instead (below)
    params = params_for(action, "billing", token_of(server, "billing"))
    if action == "ListOpenTasks":
        params = {"FlowName": "billing"}
    body = assert_denied(call(server, "orders", action, **params), action)
    assert "billing" in body["Message"]


def test_lists_show_a_limited_key_only_its_flows_and_tasks(server):
    flows = call(server, "orders", "ListFlows").json()["Flows"]
    assert sorted(f["Name"] for f in flows) == ["orders-eu", "orders-us"]
    assert len(call(server, ADMIN, "ListFlows").json()["Flows"]) == 3
    page = call(server, "orders", "ListFlows", Limit="1").json()
    assert [f["Name"] for f in page["Flows"]] == ["orders-eu"] and page["NextToken"]
    tasks = call(server, "orders", "ListOpenTasks").json()["Tasks"]
    assert [t["FlowName"] for t in tasks] == ["orders-eu"]
    assert {t["FlowName"] for t in call(server, ADMIN, "ListOpenTasks").json()["Tasks"]} == {"orders-eu", "billing"}
    described = call(server, "orders", "DescribeExecution", FlowName="orders-eu", ExecutionName="e1")
    assert described.status_code == 200 and described.json()["Status"] == "Running"
    # the long polls run through the key's view of the services too
    synced = call(server, "orders", "StartSyncExecution", FlowName="orders-eu")
    assert 400 <= synced.status_code < 500 and synced.json()["Code"] != "AccessDenied", synced.text
    missing = call(server, "orders", "StopExecution", FlowName="orders-us", ExecutionName="nope")
    assert missing.status_code == 404 and missing.json()["Code"] == "ExecutionNotExists", missing.text


def test_a_task_token_of_another_flow_is_refused_and_the_task_stays_open(server):
    token = token_of(server, "billing")
    assert_denied(call(server, "orders", "ReportTaskSucceeded", TaskToken=token, Output="{}"), "ReportTaskSucceeded")
    assert any(t["token"] == token for t in server.runtime.store.open_tasks_of("billing"))


def test_a_callback_token_of_another_flow_cannot_be_handed_to_a_child(server):
    token = token_of(server, "billing")
    refused = call(server, "orders", "StartExecution", FlowName="orders-us", CallbackFnFTaskToken=token)
    assert_denied(refused, "StartExecution")
    assert "billing" in refused.json()["Message"]


def test_the_official_sdk_gets_access_denied(server):
    cases = [("no-CreateFlow", lambda c: c.create_flow(m.CreateFlowRequest(name="x", definition=PASS, type="FDL",
                                                                            description=""))),
             ("no-StartExecution", lambda c: c.start_execution(m.StartExecutionRequest(flow_name="orders-eu"))),
             ("no-ListFlows", lambda c: c.list_flows(m.ListFlowsRequest())),
             ("readonly", lambda c: c.delete_flow(m.DeleteFlowRequest(name="billing"))),
             ("orders", lambda c: c.describe_flow(m.DescribeFlowRequest(name="billing"))),
             ("operator", lambda c: c.update_flow(m.UpdateFlowRequest(name="orders-eu", definition=PASS))),
             ("no-ReportTaskSucceeded", lambda c: c.report_task_succeeded(m.ReportTaskSucceededRequest(
                 task_token=token_of(server, "orders-eu"), output="{}")))]
    for key, action in cases:
        with pytest.raises(ClientException) as info:
            action(sdk(server, key))
        assert (info.value.code, info.value.status_code) == ("AccessDenied", 403), key
    names = [f.name for f in sdk(server, "orders").list_flows(m.ListFlowsRequest()).body.flows]
    assert names == ["orders-eu", "orders-us"]


def test_built_in_roles(server):
    assert call(server, "readonly", "DescribeFlow", Name="billing").status_code == 200
    assert_denied(call(server, "readonly", "StartExecution", FlowName="billing"), "StartExecution")
    assert_denied(call(server, "readonly", "StopExecution", FlowName="billing", ExecutionName="e1"), "StopExecution")
    assert_denied(call(server, "operator", "CreateFlow", Name="n", Definition=PASS), "CreateFlow")
    assert_denied(call(server, "operator", "DeleteFlow", Name="billing"), "DeleteFlow")
    started = call(server, "operator", "StartExecution", FlowName="orders-us", ExecutionName="by-operator")
    assert started.status_code == 200
    assert Policy.parse({"role": "readonly", "allow": ["fnf:StartExecution"]}).allows("fnf:StartExecution")
    assert ROLES["admin"] == ("*",)


# -- the MNS API --------------------------------------------------------------------------------------
def mns(server, key: str, method: str, target: str, body: bytes = b"") -> httpx.Response:
    date = email.utils.formatdate(usegmt=True)
    content_type = "text/xml;charset=UTF-8" if body else ""
    md5 = base64.b64encode(hashlib.md5(body).hexdigest().encode()).decode() if body else ""
    string_to_sign = f"{method}\n{md5}\n{content_type}\n{date}\nx-mns-version:2015-06-06\n{target}"
    signature = base64.b64encode(hmac.new(SECRET.encode(), string_to_sign.encode(), hashlib.sha1).digest()).decode()
    headers = {"x-mns-version": "2015-06-06", "Authorization": f"MNS {key}:{signature}", "Date": date}
    if body:
        headers.update({"Content-Type": content_type, "Content-MD5": md5})
    return httpx.request(method, f"http://{server.endpoint}{target}", headers=headers, content=body, timeout=30)


MESSAGE = b'<?xml version="1.0" encoding="UTF-8"?><Message xmlns="http://mns.aliyuncs.com/doc/v1/"><MessageBody>hi</MessageBody></Message>'
BATCH = (b'<?xml version="1.0" encoding="UTF-8"?><Messages xmlns="http://mns.aliyuncs.com/doc/v1/"><Message>'
         b'<MessageBody>hi</MessageBody></Message></Messages>')
HANDLES = (b'<?xml version="1.0" encoding="UTF-8"?><ReceiptHandles xmlns="http://mns.aliyuncs.com/doc/v1/">'
           b'<ReceiptHandle>x</ReceiptHandle></ReceiptHandles>')
MNS_CALLS = {
    "CreateQueue": ("PUT", "/queues/q1", b""), "DeleteQueue": ("DELETE", "/queues/q1", b""),
    "ListQueue": ("GET", "/queues", b""), "GetQueueAttributes": ("GET", "/queues/q1", b""),
    "SetQueueAttributes": ("PUT", "/queues/q1?metaoverride=true", b""),
    "SendMessage": ("POST", "/queues/q1/messages", MESSAGE), "BatchSendMessage": ("POST", "/queues/q1/messages", BATCH),
    "ReceiveMessage": ("GET", "/queues/q1/messages", b""),
    "BatchReceiveMessage": ("GET", "/queues/q1/messages?numOfMessages=2", b""),
    "DeleteMessage": ("DELETE", "/queues/q1/messages?ReceiptHandle=x", b""),
    "BatchDeleteMessage": ("DELETE", "/queues/q1/messages", HANDLES),
    "PeekMessage": ("GET", "/queues/q1/messages?peekonly=true", b""),
    "BatchPeekMessage": ("GET", "/queues/q1/messages?peekonly=true&numOfMessages=2", b""),
    "ChangeMessageVisibility": ("PUT", "/queues/q1/messages?ReceiptHandle=x&VisibilityTimeout=10", b""),
}


def test_every_queue_operation_is_refused_to_a_key_whose_allow_list_leaves_it_out(server):
    assert set(MNS_CALLS) == set(MNS_ACTIONS)
    assert mns(server, ADMIN, "PUT", "/queues/q1").status_code in (201, 204)
    for operation, (method, target, body) in MNS_CALLS.items():
        response = mns(server, f"no-mns-{operation}", method, target, body)
        assert response.status_code == 403 and "<Code>AccessDenied</Code>" in response.text, (operation, response.text)
        assert f"mns:{operation}" in response.text, operation
        if operation not in ("CreateQueue", "DeleteQueue"):
            other = mns(server, "no-mns-CreateQueue", method, target, body)
            assert other.status_code != 403, (operation, other.text)


def test_queue_name_patterns(server):
    for name in ("orders-in", "billing-in"):
        assert mns(server, ADMIN, "PUT", f"/queues/{name}").status_code in (201, 204)
    listed = mns(server, "orders", "GET", "/queues")
    assert listed.status_code == 200 and "orders-in" in listed.text and "billing-in" not in listed.text
    assert mns(server, "orders", "POST", "/queues/orders-in/messages", MESSAGE).status_code == 201
    refused = mns(server, "orders", "POST", "/queues/billing-in/messages", MESSAGE)
    assert refused.status_code == 403 and "billing-in" in refused.text


# -- the service layer ----------------------------------------------------------------------------------
def test_the_service_layer_given_a_key(server):
    from stateway.app import Stateway

    sw = Stateway(server.runtime)
    try:
        orders = sw.for_key("orders", server.keyring)
        assert [f["name"] for f in orders.flows.list()] == ["orders-eu", "orders-us"]
        with pytest.raises(AccessDenied) as info:
            orders.flows.describe("billing")
        assert info.value.code == "AccessDenied" and "billing" in str(info.value)
        with pytest.raises(AccessDenied):
            orders.tasks.succeed(token_of(server, "billing"), {})
        tasks, _ = orders.tasks.list_open()
        assert tasks and {t.flow_name for t in tasks} <= {"orders-eu", "orders-us"}
        readonly = sw.for_key("readonly", server.keyring)
        assert readonly.flows.describe("billing")["name"] == "billing"
        with pytest.raises(AccessDenied):
            readonly.executions.start("billing", {})
        with pytest.raises(AccessDenied):
            readonly.queues.send("orders-in", "x")
        with pytest.raises(AccessDenied):
            sw.for_key("nobody", server.keyring)
        with pytest.raises(AccessDenied):
            readonly.executions.express()  # not in the table: only a key that may do everything
        assert sw.for_key(ADMIN, server.keyring).executions.express() is not None
    finally:
        sw.close()


def test_a_reload_changes_policies_at_once(server):
    keyring = server.keyring
    before = (dict(keyring), {k: keyring.policy(k) for k in keyring})
    try:
        keyring.replace({**before[0], "late": SECRET}, {**before[1], "late": Policy(allow=("fnf:List*",))})
        assert call(server, "late", "ListFlows").status_code == 200
        assert_denied(call(server, "late", "DescribeFlow", Name="billing"), "DescribeFlow")
        gone = keyring.replace(before[0], before[1])
        assert gone == {"late"}
        refused = call(server, "late", "ListFlows")
        assert (refused.status_code, refused.json()["Code"]) == (403, "InvalidAccessKeyID")
    finally:
        keyring.replace(*before)


def test_policy_settings_are_checked():
    from stateway.settings import Settings, SettingsError

    settings = Settings.from_config({"access_keys": [
        {"id": "a", "secret": "s", "allow": ["fnf:Describe*"], "flows": ["orders-*"], "queues": ["q-*"]},
        {"id": "b", "secret": "s", "role": "readonly"}, {"id": "c", "secret": "s"}]})
    keyring = settings.keyring()
    assert keyring.policy("a").allows("fnf:DescribeFlow") and not keyring.policy("a").allows("fnf:DeleteFlow")
    assert keyring.policy("a").sees_flow("orders-1") and not keyring.policy("a").sees_flow("billing")
    assert keyring.policy("b").allows("fnf:ListFlows") and not keyring.policy("b").allows("fnf:StartExecution")
    assert keyring.policy("c").unrestricted
    for entry, message in (({"alow": ["fnf:*"]}, "unknown field"), ({"role": "root"}, "role must be one of"),
                           ({"allow": ["DescribeFlow"]}, "must name its service"), ({"flows": "x"}, None),
                           ({"flows": [1]}, "list of patterns")):
        config = {"access_keys": [{"id": "a", "secret": "s", **entry}]}
        if message is None:
            assert Settings.from_config(config).keyring().policy("a").flows == ("x",)
            continue
        with pytest.raises(SettingsError, match=message):
            Settings.from_config(config)
    assert json.dumps(ROLES)  # the roles are plain lists of patterns


def test_patterns_match_whole_names_with_only_star_and_question_mark():
    policy = Policy(allow=("fnf:describe*", "mns:?endMessage"), flows=("orders.eu", "a?c", "x*"))
    assert policy.allows("fnf:DescribeFlow") and policy.allows("DescribeExecution"), "actions ignore case"
    assert policy.allows("mns:SendMessage") and not policy.allows("mns:BatchSendMessage")
    assert not policy.allows("fnf:ListFlows") and not policy.allows("fnf:XDescribeFlow")
    assert policy.sees_flow("orders.eu") and not policy.sees_flow("ordersXeu"), "a dot is a dot"
    assert policy.sees_flow("abc") and not policy.sees_flow("abbc") and policy.sees_flow("x")
    assert not policy.sees_flow("X"), "flow names keep their case"
    with pytest.raises(AccessDenied, match="fnf:ListFlows"):
        policy.check("ListFlows", key_id="k")
    nothing = Policy.parse({"allow": []})
    assert not nothing.allows("fnf:DescribeFlow"), "an empty allow list allows nothing"
