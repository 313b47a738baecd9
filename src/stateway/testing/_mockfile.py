"""Mocks from a file shaped like Step Functions Local's mock configuration, so that a team can keep its
test cases in YAML (or JSON) and run them with ``stateway test``::

    StateMachines:
      order:                       # the flow's name
        TestCases:
          HappyPath:
            Charge: ChargeOk       # state → a name under MockedResponses
          CardDeclined:
            Charge: ChargeDeclined
    MockedResponses:
      ChargeOk:
        "0": {Return: {Body: {charged: true}}}
      ChargeDeclined:
        "0-2": {Throw: {Error: Payment.Declined, Cause: card expired}}
        "3": {NoAnswer: true}      # Stateway's addition: the task stays open (a callback nobody sends)

Keys of a mocked response are call numbers, from 0, or ranges ``a-b``; each call of the state takes the next.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from stateway.testing._mocks import NO_ANSWER, Mock

_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


class MockConfigError(ValueError):
    pass


class MockConfig:
    def __init__(self, data: Any, source: str = "the mock configuration") -> None:
        self.source = source
        if not isinstance(data, dict):
            raise MockConfigError(f"{source}: expected a mapping with StateMachines and MockedResponses")
        unknown = set(data) - {"StateMachines", "MockedResponses"}
        if unknown:
            raise MockConfigError(f"{source}: unknown top-level key(s) {', '.join(sorted(unknown))}; "
                                  "expected StateMachines and MockedResponses")
        self.machines = data.get("StateMachines") or {}
        self.responses = data.get("MockedResponses") or {}
        if not isinstance(self.machines, dict) or not isinstance(self.responses, dict):
            raise MockConfigError(f"{source}: StateMachines and MockedResponses must be mappings")
        for name in self.responses:  # every mistake shows at load, not only in the case that uses it
            self._responses(str(name), f"MockedResponses.{name}")

    @classmethod
    def load(cls, config: Any) -> MockConfig:
        if isinstance(config, dict):
            return cls(config)
        text = os.fspath(config)
        source = "the mock configuration"
        if "\n" not in text and Path(text).exists():
            source = text
            text = Path(text).read_text()
        try:
            data = YAML(typ="safe").load(text)
        except Exception as exc:
            raise MockConfigError(f"{source}: not YAML or JSON: {exc}") from None
        return cls(data, source)

    def flows(self) -> list[str]:
        return list(self.machines)

    def cases(self, flow: str | None = None) -> list[str]:
        return list(self._test_cases(self._flow(flow)))

    def _flow(self, flow: str | None) -> str:
        if flow is not None and flow in self.machines:
            return flow
        if flow is None and len(self.machines) == 1:
            return next(iter(self.machines))
        known = ", ".join(self.machines) or "none"
        what = f"no flow {flow!r}" if flow else "several flows; say which"
        raise MockConfigError(f"{self.source}: {what} under StateMachines (flows: {known})")

    def _test_cases(self, flow: str) -> dict[str, Any]:
        machine = self.machines[flow]
        cases = machine.get("TestCases") if isinstance(machine, dict) else None
        if not isinstance(cases, dict):
            raise MockConfigError(f"{self.source}: StateMachines.{flow} needs TestCases (case → state → response)")
        return cases

    def mocks(self, case: str, flow: str | None = None) -> list[Mock]:
        flow_name = self._flow(flow)
        cases = self._test_cases(flow_name)
        if case not in cases:
            raise MockConfigError(f"{self.source}: no test case {case!r} for flow {flow_name!r}; cases: "
                                  f"{', '.join(cases) or 'none'}")
        states = cases[case] or {}
        if not isinstance(states, dict):
            raise MockConfigError(f"{self.source}: TestCases.{case} maps state names to mocked responses")
        return [Mock(state=str(state), responses=self._responses(str(name), f"{case}.{state}"), repeat=False)
                for state, name in states.items()]

    def _responses(self, name: str, where: str) -> list[Any]:
        if name not in self.responses:
            raise MockConfigError(f"{self.source}: {where} names {name!r}, which is not under MockedResponses "
                                  f"(have: {', '.join(self.responses) or 'none'})")
        spec = self.responses[name]
        if not isinstance(spec, dict) or not spec:
            raise MockConfigError(f"{self.source}: MockedResponses.{name} maps call numbers (\"0\", \"1-2\") to "
                                  "Return or Throw")
        slots: dict[int, Any] = {}
        for key, value in spec.items():
            match = _RANGE.match(str(key))
            if match is None:
                raise MockConfigError(f"{self.source}: MockedResponses.{name}: {key!r} is not a call number or a "
                                      "range like \"1-3\"")
            low = int(match.group(1))
            high = int(match.group(2) or low)
            if high < low:
                raise MockConfigError(f"{self.source}: MockedResponses.{name}: the range {key!r} runs backwards")
            response = self._response(value, f"MockedResponses.{name}.{key}")
            for index in range(low, high + 1):
                if index in slots:
                    raise MockConfigError(f"{self.source}: MockedResponses.{name}: call {index} is given twice")
                slots[index] = response
        missing = [i for i in range(max(slots) + 1) if i not in slots]
        if missing:
            raise MockConfigError(f"{self.source}: MockedResponses.{name}: no response for call {missing[0]}")
        return [slots[i] for i in range(len(slots))]

    def _response(self, value: Any, where: str) -> Any:
        if not isinstance(value, dict) or len(value) != 1:
            raise MockConfigError(f"{self.source}: {where}: expected exactly one of Return, Throw, NoAnswer")
        (kind, body), = value.items()
        if kind == "Return":
            if not isinstance(body, dict):
                raise MockConfigError(f"{self.source}: {where}.Return must be an object (the task's output)")
            return body
        if kind == "Throw":
            if not isinstance(body, dict) or not isinstance(body.get("Error"), str):
                raise MockConfigError(f"{self.source}: {where}.Throw needs Error (and optionally Cause)")
            return (body["Error"], str(body.get("Cause", "")))
        if kind == "NoAnswer":
            return NO_ANSWER
        raise MockConfigError(f"{self.source}: {where}: {kind!r} is not Return, Throw or NoAnswer")
