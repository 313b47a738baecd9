"""Every authentication refusal, ACS3 through the generic client, the legacy SDK, and request limits."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from alibabacloud_fnf20190315 import models as m
from alibabacloud_tea_openapi.exceptions import ClientException

from stateway.api._signature import sign_rpc_v1
from tests.api.fixtures import KEY_ID, SECRET
from tests.api.test_sdk_flows import PASS


def raw(server, method="GET", **overrides):
    query = sign_rpc_v1(method, "ListFlows", {}, KEY_ID, SECRET)
    query.update(overrides)
    return httpx.request(method, f"http://{server.endpoint}/", params=query)


def test_wrong_secret_is_signature_not_match(server):
    from alibabacloud_fnf20190315.client import Client
    from alibabacloud_tea_openapi import utils_models as om

    client = Client(om.Config(access_key_id=KEY_ID, access_key_secret="wrong", endpoint=server.endpoint,
                              protocol="http"))
    with pytest.raises(ClientException) as info:
        client.list_flows(m.ListFlowsRequest())
    assert (info.value.code, info.value.status_code) == ("SignatureNotMatch", 403)
    assert "string to sign is:GET&%2F&" in info.value.data["Message"]


def test_unknown_key_skew_nonce_and_unsigned(server):
    response = raw(server)
    assert response.status_code == 200
    unknown = httpx.get(f"http://{server.endpoint}/",
                        params=sign_rpc_v1("GET", "ListFlows", {}, "nobody", SECRET))
    assert (unknown.status_code, unknown.json()["Code"]) == (403, "InvalidAccessKeyID")
    query = sign_rpc_v1("GET", "ListFlows", {"Timestamp": "2020-01-01T00:00:00Z"}, KEY_ID, SECRET)
    skewed = httpx.get(f"http://{server.endpoint}/", params=query)
    assert (skewed.status_code, skewed.json()["Code"]) == (403, "RequestTimeTooSkewed")
    query = sign_rpc_v1("GET", "ListFlows", {"SignatureNonce": "fixed-nonce"}, KEY_ID, SECRET)
    assert httpx.get(f"http://{server.endpoint}/", params=query).status_code == 200
    query = sign_rpc_v1("GET", "ListFlows", {"SignatureNonce": "fixed-nonce"}, KEY_ID, SECRET)
    reused = httpx.get(f"http://{server.endpoint}/", params=query)
    assert (reused.status_code, reused.json()["Code"]) == (400, "SignatureNonceUsed")
    unsigned = httpx.get(f"http://{server.endpoint}/?Action=ListFlows")
    assert unsigned.status_code == 400 and set(unsigned.json()) == {"RequestId", "HostId", "Code", "Message"}


def test_version_action_and_size_errors(server):
    query = sign_rpc_v1("GET", "ListFlows", {"Version": "2020-01-01"}, KEY_ID, SECRET)
    wrong = httpx.get(f"http://{server.endpoint}/", params=query)
    assert (wrong.status_code, wrong.json()["Code"]) == (400, "APIVersionNotSupported")
    query = sign_rpc_v1("GET", "Explode", {}, KEY_ID, SECRET)
    assert httpx.get(f"http://{server.endpoint}/", params=query).json()["Code"] == "ActionNotSupported"
    body = {"Name": "big", "Definition": "x" * (1024 * 1024 + 10)}
    query = sign_rpc_v1("POST", "CreateFlow", body, KEY_ID, SECRET)
    form = {k: query.pop(k) for k in list(body)}
    big = httpx.post(f"http://{server.endpoint}/", params=query, data=form)
    assert (big.status_code, big.json()["Code"]) == (400, "EntityTooLarge")


def test_acs3_signed_generic_client(server):
    from alibabacloud_tea_openapi import utils_models as om
    from alibabacloud_tea_openapi.client import Client as OpenApiClient
    from darabonba.runtime import RuntimeOptions

    client = OpenApiClient(om.Config(access_key_id=KEY_ID, access_key_secret=SECRET, endpoint=server.endpoint,
                                     protocol="http"))
    fnf_flow = {"Name": "acs3", "Definition": PASS, "Description": "d", "Type": "FDL"}
    params = om.Params(action="CreateFlow", version="2019-03-15", protocol="HTTP", pathname="/", method="POST",
                       auth_type="AK", style="RPC", req_body_type="formData", body_type="json")
    response = client.call_api(params, om.OpenApiRequest(body=fnf_flow), RuntimeOptions())
    assert response["body"]["Name"] == "acs3"
    bad = OpenApiClient(om.Config(access_key_id=KEY_ID, access_key_secret="nope", endpoint=server.endpoint,
                                  protocol="http"))
    with pytest.raises(ClientException) as info:
        bad.call_api(params, om.OpenApiRequest(body={**fnf_flow, "Name": "acs3b"}), RuntimeOptions())
    assert info.value.code == "SignatureNotMatch"


def test_legacy_sdk(server):
    from aliyunsdkcore.acs_exception.exceptions import ServerException
    from aliyunsdkcore.client import AcsClient
    from aliyunsdkfnf.request.v20190315.CreateFlowRequest import CreateFlowRequest
    from aliyunsdkfnf.request.v20190315.DescribeExecutionRequest import DescribeExecutionRequest
    from aliyunsdkfnf.request.v20190315.DescribeFlowRequest import DescribeFlowRequest
    from aliyunsdkfnf.request.v20190315.StartExecutionRequest import StartExecutionRequest

    client = AcsClient(KEY_ID, SECRET, "cn-hangzhou")

    def call(request):
        request.set_endpoint(server.endpoint)
        request.set_protocol_type("http")
        return json.loads(client.do_action_with_exception(request))

    request = CreateFlowRequest()
    request.set_Name("old")
    request.set_Definition(PASS)
    request.set_Description("legacy")
    request.set_Type("FDL")
    assert call(request)["Name"] == "old"
    describe = DescribeFlowRequest()
    describe.set_Name("old")
    assert call(describe)["Description"] == "legacy"
    start = StartExecutionRequest()
    start.set_FlowName("old")
    start.set_ExecutionName("e1")
    start.set_Input('{"x": 1}')
    call(start)
    time.sleep(0.3)
    status = DescribeExecutionRequest()
    status.set_FlowName("old")
    status.set_ExecutionName("e1")
    assert call(status)["Status"] == "Succeeded"
    missing = DescribeFlowRequest()
    missing.set_Name("nope")
    with pytest.raises(ServerException) as info:
        call(missing)
    assert info.value.get_error_code() == "FlowNotExists" and info.value.get_http_status() == 404
