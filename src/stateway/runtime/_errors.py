"""What the runtime's callers may be told: a task already completed, an argument refused."""


class TaskAlreadyCompleted(Exception):
    code = "TaskAlreadyCompleted"


class InvalidArgument(ValueError):
    code = "InvalidArgument"
