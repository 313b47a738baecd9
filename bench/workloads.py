"""Each workload as an FDL flow (Stateway) and as the equivalent Amazon States Language machine (peer)."""

from __future__ import annotations

from typing import Any

from tests.shared_flows import LOOP

LOOP_FDL = LOOP  # the same flow the tests run (tests/shared_flows.py)
LOOP_ASL: dict[str, Any] = {"StartAt": "Step", "States": {
    "Step": {"Type": "Pass", "Parameters": {"i.$": "States.MathAdd($.i, 1)", "n.$": "$.n"}, "Next": "Check"},
    "Check": {"Type": "Choice", "Choices": [{"Variable": "$.i", "NumericLessThanPath": "$.n", "Next": "Step"}],
              "Default": "Done"},
    "Done": {"Type": "Succeed"}}}

FIVE_FDL = """Type: StateMachine
SpecVersion: v1
Name: five
StartAt: Prepare
States:
  - Type: Pass
    Name: Prepare
    OutputConstructor: {kind: order, n.$: $Input.n}
    Next: Route
  - Type: Choice
    Name: Route
    Branches:
      - Condition: $Input.kind == "order"
        Next: Both
    Default: Finish
  - Type: Parallel
    Name: Both
    Branches:
      - StartAt: Left
        States:
          - {Type: Pass, Name: Left, End: true}
      - StartAt: Right
        States:
          - {Type: Pass, Name: Right, End: true}
    Next: Finish
  - Type: Pass
    Name: Finish
    End: true
"""
FIVE_ASL: dict[str, Any] = {"StartAt": "Prepare", "States": {
    "Prepare": {"Type": "Pass", "Parameters": {"kind": "order", "n.$": "$.n"}, "Next": "Route"},
    "Route": {"Type": "Choice", "Choices": [{"Variable": "$.kind", "StringEquals": "order", "Next": "Both"}],
              "Default": "Finish"},
    "Both": {"Type": "Parallel", "Next": "Finish", "Branches": [
        {"StartAt": "Left", "States": {"Left": {"Type": "Pass", "End": True}}},
        {"StartAt": "Right", "States": {"Right": {"Type": "Pass", "End": True}}}]},
    "Finish": {"Type": "Pass", "End": True}}}

MAP_FDL = """Type: StateMachine
SpecVersion: v1
Name: map
StartAt: Each
States:
  - Type: Map
    Name: Each
    ItemsPath: $Input.items
    MaxConcurrency: 100
    Processor:
      StartAt: Item
      States:
        - {Type: Pass, Name: Item, End: true}
    OutputConstructor:
      count.$: length($Output.Items)
    End: true
"""
MAP_ASL: dict[str, Any] = {"StartAt": "Each", "States": {
    "Each": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 100, "End": True,
             "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Item",
                               "States": {"Item": {"Type": "Pass", "End": True}}}}}}

CALLBACK_FDL = """Type: StateMachine
SpecVersion: v1
Name: callback
StartAt: Ask
States:
  - Type: Task
    Name: Ask
    Action: MNS:SendMessage
    TaskMode: WaitForCustomCallback
    Timeout: 3600
    Parameters:
      resourceArn: acs:mns:::/queues/bench/messages
      message: {token.$: $Context.Current.TaskToken}
    Next: After
  - {Type: Pass, Name: After, End: true}
"""
TIMER_FDL = """Type: StateMachine
SpecVersion: v1
Name: timer
StartAt: W
States:
  - {Type: Wait, Name: W, Seconds: 3600, End: true}
"""

ENDLESS_FDL = """Type: StateMachine
SpecVersion: v1
Name: endless
StartAt: A
States:
  - {Type: Pass, Name: A, Next: B}
  - {Type: Pass, Name: B, Next: A}
"""

DMAP_FDL = """Type: StateMachine
SpecVersion: v1
Name: dmap
StartAt: Each
States:
  - Type: Map
    Name: Each
    ProcessorConfig:
      Mode: Distributed
      ExecutionMode: Express
    ItemsPath: $Input.items
    MaxConcurrency: 100
    Processor:
      StartAt: Item
      States:
        - {Type: Pass, Name: Item, End: true}
    OutputConstructor:
      count.$: length($Output.Items)
    End: true
"""

# the same Map for worker processes with default limits: items from a comma-separated text (an
# input of 10,000 numbers stays under 64 KiB), children that answer {} (the raw output too)
DMAP_SPLIT_FDL = """Type: StateMachine
SpecVersion: v1
Name: dmap
StartAt: Each
States:
  - Type: Map
    Name: Each
    ProcessorConfig:
      Mode: Distributed
      ExecutionMode: Express
    ItemsPath: split($Input.csv, ",")
    ItemConstructor:
      i.$: $Item
    MaxConcurrency: 100
    Processor:
      StartAt: Item
      States:
        - Type: Pass
          Name: Item
          OutputConstructor: {}
          End: true
    OutputConstructor:
      count.$: length($Output.Items)
    End: true
"""
