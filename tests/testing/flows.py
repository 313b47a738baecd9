"""Small flows the plugin's tests share."""

LONG_WAIT_AND_TIMEOUTS = """Type: StateMachine
Name: long-wait
SpecVersion: v1
StartAt: Call
States:
  - Type: Task
    Name: Call
    Action: FC:InvokeFunction
    Timeout: 30
    Parameters:
      resourceArn: acs:fc:cn-hangzhou:123:functions/slow-service
      body:
        n.$: $Input.n
    Retry:
      - Errors: [FnF.Timeout]
        MaxAttempts: 3
        IntervalSeconds: 10
        BackoffRate: 2
    Next: Sleep
  - Type: Wait
    Name: Sleep
    Seconds: 2592000
    Next: Done
  - Type: Pass
    Name: Done
    End: true
"""

WAIT = """Type: StateMachine
Name: wait
SpecVersion: v1
StartAt: Pause
States:
  - Type: Wait
    Name: Pause
    Seconds.$: $Input.seconds
    Next: Stamp
  - Type: Pass
    Name: Stamp
    OutputConstructor:
      started.$: $Context.Execution.StartTime
    End: true
"""

CHARGE = """Type: StateMachine
Name: charge
SpecVersion: v1
StartAt: Validate
States:
  - Type: Pass
    Name: Validate
    Next: Charge
  - Type: Task
    Name: Charge
    Action: FC:InvokeFunction
    Parameters:
      resourceArn: acs:fc:cn-hangzhou:123456789:functions/charge/LATEST
      invocationType: Sync
      body:
        amount.$: $Input.amount
    Retry:
      - Errors: [Payment.Busy]
        MaxAttempts: 2
        IntervalSeconds: 5
    Catch:
      - Errors: [Payment.Declined]
        Next: Refund
    Next: Ship
  - Type: Pass
    Name: Ship
    End: true
  - Type: Pass
    Name: Refund
    End: true
"""

APPROVAL = """Type: StateMachine
Name: approval
SpecVersion: v1
StartAt: Ask
States:
  - Type: Task
    Name: Ask
    Action: FC:InvokeFunction
    TaskMode: WaitForCustomCallback
    Timeout: 3600
    Parameters:
      resourceArn: acs:fc:::functions/ask
      invocationType: Async
      body:
        token.$: $Context.Current.TaskToken
    Catch:
      - Errors: [Rejected, FnF.Timeout]
        OutputConstructor:
          approved: false
          why.$: $Context.Current.Error.Code
        Next: Done
    OutputConstructor:
      approved: true
      by.$: $Output.by
    Next: Done
  - Type: Pass
    Name: Done
    End: true
"""

FANOUT = """Type: StateMachine
Name: fanout
SpecVersion: v1
StartAt: Both
States:
  - Type: Parallel
    Name: Both
    Branches:
      - StartAt: Left
        States:
          - Type: Wait
            Name: Left
            Seconds: 5
            End: true
      - StartAt: Right
        States:
          - Type: Pass
            Name: Right
            End: true
    Next: After
  - Type: Pass
    Name: After
    End: true
"""
