"""Flow definitions the console tests run."""

STEPS = """Type: StateMachine
SpecVersion: v1
Name: steps
StartAt: First
States:
  - Type: Pass
    Name: First
    Next: WaitOne
  - Type: Wait
    Name: WaitOne
    Seconds: 3
    Next: Middle
  - Type: Pass
    Name: Middle
    Next: WaitTwo
  - Type: Wait
    Name: WaitTwo
    Seconds: 3
    Next: Done
  - Type: Succeed
    Name: Done
"""

APPROVAL = """Type: StateMachine
SpecVersion: v1
Name: approval
StartAt: Ask
States:
  - Type: Task
    Name: Ask
    Action: MNS:SendMessage
    TaskMode: WaitForCustomCallback
    Timeout: 600
    Parameters:
      resourceArn: acs:mns:::/queues/approvals/messages
      message: {token.$: $Context.Current.TaskToken, order.$: $Input.order}
    Catch:
      - Errors: [Rejected]
        Next: Refused
    Next: Accepted
  - Type: Pass
    Name: Accepted
    End: true
  - Type: Pass
    Name: Refused
    End: true
"""

CHILD = """Type: StateMachine
SpecVersion: v1
Name: child
StartAt: Linger
States:
  - Type: Wait
    Name: Linger
    Seconds: 300
    End: true
"""

PARENT = """Type: StateMachine
SpecVersion: v1
Name: parent
StartAt: Spawn
States:
  - Type: Task
    Name: Spawn
    Action: FNF:StartExecution
    TaskMode: WaitForSystemCallback
    Parameters:
      resourceArn: acs:fnf:::flow/%s
      input: {}
    End: true
"""

MAP = """Type: StateMachine
SpecVersion: v1
Name: many
StartAt: Each
States:
  - Type: Map
    Name: Each
    ItemsPath: $Input.items
    Processor:
      StartAt: Touch
      States:
        - Type: Pass
          Name: Touch
          End: true
    End: true
"""

EVERYTHING = """Type: StateMachine
SpecVersion: v1
Name: everything
StartAt: Route
States:
  - Type: Choice
    Name: Route
    Branches:
      - Condition: $Input.kind == "fast"
        Next: Fanout
    Default: Pause
  - Type: Wait
    Name: Pause
    Seconds: 0
    Next: Fanout
  - Type: Parallel
    Name: Fanout
    Branches:
      - StartAt: Left
        States:
          - Type: Pass
            Name: Left
            End: true
      - StartAt: Right
        States:
          - Type: Pass
            Name: Right
            End: true
    Next: Each
  - Type: Map
    Name: Each
    ItemsPath: $Input.items
    Processor:
      StartAt: Work
      States:
        - Type: Pass
          Name: Work
          End: true
    Next: Send
  - Type: Task
    Name: Send
    Action: MNS:SendMessage
    Parameters:
      resourceArn: acs:mns:::/queues/everything/messages
      message: {hello: world}
    Catch:
      - Errors: [FnF.ALL]
        Next: Oops
    Next: Done
  - Type: Fail
    Name: Oops
    Code: Broken
  - Type: Succeed
    Name: Done
"""

# a distributed Map over $Input.items; items with "bad" fail (tolerated up to 10)
DISTRIBUTED = """Type: StateMachine
SpecVersion: v1
StartAt: Each
States:
  - Type: Map
    Name: Each
    ProcessorConfig:
      Mode: Distributed
    ItemsPath: $Input.items
    MaxConcurrency: 50
    ToleratedFailureCount: 10
    Processor:
      StartAt: Check
      States:
        - Type: Choice
          Name: Check
          Branches:
            - Condition: $Input.bad == true
              Next: Reject
          Default: Accept
        - Type: Fail
          Name: Reject
          Code: BadItem
          Detail: the item is marked bad
        - Type: Pass
          Name: Accept
          End: true
    End: true
"""

# nested Parallel, Map and Catch: the graph's hard case (issue 23)
NESTED = """Type: StateMachine
SpecVersion: v1
Name: nested
StartAt: Prepare
States:
  - Type: Pass
    Name: Prepare
    Next: Both
  - Type: Parallel
    Name: Both
    Branches:
      - StartAt: Check
        States:
          - Type: Choice
            Name: Check
            Branches:
              - Condition: $Input.n < 0
                Next: Negative
            Default: EachItem
          - Type: Fail
            Name: Negative
            Code: Negative
          - Type: Map
            Name: EachItem
            ItemsPath: $Input.items
            Processor:
              StartAt: Work
              States:
                - Type: Pass
                  Name: Work
                  Next: Inner
                - Type: Parallel
                  Name: Inner
                  Branches:
                    - StartAt: A
                      States:
                        - Type: Pass
                          Name: A
                          End: true
                    - StartAt: B
                      States:
                        - Type: Pass
                          Name: B
                          End: true
                  End: true
            End: true
      - StartAt: Call
        States:
          - Type: Task
            Name: Call
            Action: MNS:SendMessage
            Parameters:
              resourceArn: acs:mns:::/queues/nested/messages
              message: {hello: world}
            Retry:
              - Errors: [FnF.ALL]
                MaxAttempts: 2
            Catch:
              - Errors: [FnF.ALL]
                Next: Recover
            Next: Log
          - Type: Pass
            Name: Recover
            Next: Log
          - Type: Pass
            Name: Log
            End: true
    Catch:
      - Errors: [FnF.ALL]
        Next: Broken
    Next: Again
  - Type: Choice
    Name: Again
    Branches:
      - Condition: $Input.again == true
        Next: Prepare
    Default: Done
  - Type: Fail
    Name: Broken
    Code: Broken
  - Type: Succeed
    Name: Done
"""
