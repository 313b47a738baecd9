"""Flow definitions and definition generators used by both the tests and the benchmark suite
(``bench/``): a test asserts what a flow does, and the bench times the same flow, so both read it
from here and cannot drift apart."""

from __future__ import annotations

# two Pass states, one after the other: the small execution run next to hostile ones
SMALL = """Type: StateMachine
SpecVersion: v1
StartAt: One
States:
  - {Type: Pass, Name: One, Next: Two}
  - {Type: Pass, Name: Two, End: true}
"""

# two Pass states that go to each other for ever (until the events limit or a stop)
ENDLESS = """Type: StateMachine
SpecVersion: v1
StartAt: A
States:
  - {Type: Pass, Name: A, Next: B}
  - {Type: Pass, Name: B, Next: A}
"""

# Step/Check until $Input.i reaches $Input.n: about four events a round, one continuing execution
LOOP = """Type: StateMachine
SpecVersion: v1
Name: loop
StartAt: Step
States:
  - Type: Pass
    Name: Step
    InputConstructor:
      i.$: $Input.i + 1
      n.$: $Input.n
    Next: Check
  - Type: Choice
    Name: Check
    Branches:
      - Condition: $Input.i < $Input.n
        Next: Step
    Default: Done
  - Type: Succeed
    Name: Done
"""

# an HTTP:Request to $Input.url held as long as the server takes (a drip server: an hour)
SLOW_HTTP = """Type: StateMachine
SpecVersion: v1
StartAt: Call
States:
  - Type: Task
    Name: Call
    Action: HTTP:Request
    TaskMode: RequestComplete
    Timeout: 3600
    Parameters:
      url.$: $Input.url
      timeout: 3600
    End: true
"""

# one synchronous call of the function ``quick`` (QUICK_HANDLER)
FUNCTION_CALL = """Type: StateMachine
SpecVersion: v1
StartAt: Call
States:
  - Type: Task
    Name: Call
    Action: FC:InvokeFunction
    TaskMode: RequestComplete
    Parameters:
      resourceArn: acs:fc:::functions/quick
      body: {n: 1}
    End: true
"""
QUICK_HANDLER = "def handler(event, context):\n    return {'ok': event['n']}\n"


def large_definition() -> str:
    """Pass states with an expression each, up to just under the definition limit."""
    from stateway.fdl._loader import MAX_DEFINITION_BYTES

    n, states = 0, []
    while sum(map(len, states)) < MAX_DEFINITION_BYTES - 2_000:
        states.append(f"  - {{Type: Pass, Name: S{n}, Next: S{n + 1}, "
                      f"InputConstructor: {{a.$: 'length($Input.s) + 1'}}}}\n")
        n += 1
    return f"Type: StateMachine\nSpecVersion: v1\nStartAt: S0\nStates:\n{''.join(states)}  - {{Type: Succeed, Name: S{n}}}\n"


def v1_big_flow(n: int = 500) -> str:
    """n older-dialect steps of every kind, compact enough for the 64 KiB definition limit."""
    lines = ["version: v1", "type: flow", "steps:"]
    for i in range(n):
        kind = i % 5
        if kind == 0:
            lines += [f"- {{type: task, name: T{i}, resourceArn: 'acs:fc:::functions/f',",
                      f"   inputMappings: [{{target: a, source: $input.a{i}}}],",
                      f"   catch: [{{errors: [FnF.ALL], goto: P{i + 1}}}]}}"]
        elif kind == 1:
            lines += [f"- {{type: pass, name: P{i}, outputMappings: [{{target: k, source: '$local.x[*].y'}}]}}"]
        elif kind == 2:
            lines += [f"- {{type: choice, name: C{i}, choices: [{{condition: '$.n > {i} && $.k == \"g\"',",
                      f"   steps: [{{type: pass, name: In{i}}}], goto: W{i + 1}}}]}}"]
        elif kind == 3:
            lines += [f"- {{type: wait, name: W{i}, duration: $.delay}}"]
        else:
            lines += [f"- {{type: foreach, name: F{i}, iterationMapping: {{collection: $.items, item: it}},",
                      f"   steps: [{{type: pass, name: E{i}}}]}}"]
    return "\n".join(lines) + "\n"


def alias_bomb(levels: int = 9) -> str:
    """A YAML alias bomb: 10**levels strings once expanded."""
    lines = ["Type: StateMachine", "SpecVersion: v1", "StartAt: P", "States:", "  - Type: Pass", "    Name: P",
             "    InputConstructor:", "      x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels):
        lines.append(f"      x{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    return "\n".join([*lines, "    End: true"]) + "\n"
