"""The distributed-Map conformance cases (tests/conformance/cases/distributed) through the engine,
`stateway run` and `stateway serve` with the official SDK."""

from __future__ import annotations

import pytest

from tests.conformance.harness import CASE_ROOT, check, load_case, run_in_cli, run_in_engine, run_in_server

CASES = sorted(f"distributed/{p.stem}" for p in (CASE_ROOT / "distributed").glob("*.yaml"))
assert CASES, "the distributed cases were not found"


@pytest.mark.parametrize("name", CASES)
def test_distributed_case_through_engine(name, memory_runtime):
    case = load_case(name)
    check(case, run_in_engine(case, memory_runtime))


@pytest.mark.parametrize("name", CASES)
def test_distributed_case_through_cli(name, tmp_path):
    case = load_case(name)
    check(case, run_in_cli(case, tmp_path))


@pytest.mark.parametrize("name", CASES)
def test_distributed_case_through_server_with_the_official_sdks(name, server, fnf):
    from mns.account import Account

    from tests.api.fixtures import KEY_ID, SECRET

    case = load_case(name)
    account = Account(f"http://{server.endpoint}", KEY_ID, SECRET)
    check(case, run_in_server(case, fnf, account, server.functions_dir))
