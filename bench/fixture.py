"""The test fixture's speed: a 1,000-step flow (a loop of a mocked task, an hour's Wait and a Choice) run under
``stateway.testing`` from a fresh engine, with every wait skipped on the virtual clock."""

from __future__ import annotations

import time

FIXTURE_FDL = """Type: StateMachine
SpecVersion: v1
Name: fixture-loop
StartAt: Work
States:
  - Type: Task
    Name: Work
    Action: FC:InvokeFunction
    Parameters:
      resourceArn: acs:fc:cn-hangzhou:123:functions/work
      body:
        i.$: $Input.i
    OutputConstructor:
      i.$: $Input.i + 1
      n.$: $Input.n
    Next: Rest
  - Type: Wait
    Name: Rest
    Seconds: 3600
    Next: Again
  - Type: Choice
    Name: Again
    Branches:
      - Condition: $Input.i < $Input.n
        Next: Work
    Default: Done
  - Type: Succeed
    Name: Done
"""


def fixture_1k_steps_ms(steps: int = 1_000) -> float:
    """Milliseconds for one run of a ``steps``-step flow under the test fixture (engine set-up included)."""
    from stateway.testing import Harness

    loops = max(1, (steps - 1) // 3)
    began = time.perf_counter()
    with Harness(settings={"limits": {"events": 200_000}}) as stateway:
        stateway.register(FIXTURE_FDL)
        stateway.mock("FC:InvokeFunction", resource="functions/work", returns={"Body": {}})
        result = stateway.run("fixture-loop", {"i": 0, "n": loops})
    took = (time.perf_counter() - began) * 1000
    assert result.status == "Succeeded" and len(result.steps()) == 3 * loops + 1, result
    return took


def fixture_30_day_wait_ms() -> float:
    """Milliseconds for the plugin's test of a 30-day Wait after three retried task timeouts (fresh engine)."""
    from tests.testing.flows import LONG_WAIT_AND_TIMEOUTS  # the very flow of that test

    from stateway.testing import NO_ANSWER, Harness

    began = time.perf_counter()
    with Harness() as stateway:
        stateway.register(LONG_WAIT_AND_TIMEOUTS)
        stateway.mock("FC:InvokeFunction", resource="functions/slow-service",
                      responses=[NO_ANSWER, NO_ANSWER, NO_ANSWER, {"Body": {}}])
        result = stateway.run("long-wait", {"n": 1})
    took = (time.perf_counter() - began) * 1000
    assert result.status == "Succeeded" and result.step("Call").attempts == 4, result
    return took
