"""`stateway convert`: older dialect → newer dialect. Every older-dialect case runs again as its
conversion, through the engine, `stateway run --json` and `stateway serve`, with the same result."""

from __future__ import annotations

import pytest

from stateway.fdl import load_flow
from stateway.fdl._convert import convert_flow
from tests.conformance.harness import case_names, check, flow_name, load_case, run_in_cli, run_in_engine, run_in_server

CASES = case_names("v1")


def converted(name: str) -> dict:
    """The case with its flow and children replaced by their conversions."""
    case = load_case(name)
    result = convert_flow(load_flow(case["flow"]), flow_name(case))
    out = {**case, "flow": result.text}
    out["children"] = {child: convert_flow(load_flow(source), child).text
                       for child, source in (case.get("children") or {}).items()}
    assert load_flow(out["flow"]).v1 is None  # a valid flow in the newer dialect
    return out


@pytest.mark.parametrize("name", CASES)
def test_conversion_through_engine(name, memory_runtime):
    case = converted(name)
    check(case, run_in_engine(case, memory_runtime))


@pytest.mark.parametrize("name", CASES)
def test_conversion_through_cli(name, tmp_path):
    case = converted(name)
    check(case, run_in_cli(case, tmp_path))


@pytest.mark.parametrize("name", CASES)
def test_conversion_through_server_with_the_official_sdks(name, server, fnf):
    from mns.account import Account

    from tests.api.fixtures import KEY_ID, SECRET

    case = converted(name)
    account = Account(f"http://{server.endpoint}", KEY_ID, SECRET)
    check(case, run_in_server(case, fnf, account, server.functions_dir))
