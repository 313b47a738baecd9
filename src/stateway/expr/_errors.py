from __future__ import annotations


class ExpressionError(ValueError):
    """An expression that does not parse. ``position`` is a 0-based offset into ``expression``."""

    def __init__(self, message: str, expression: str, position: int) -> None:
        self.message = message
        self.expression = expression
        self.position = position
        super().__init__(f"{message} at position {position} in expression {expression!r}")


class EvaluationError(ValueError):
    """An expression that parsed but cannot be evaluated on this data (FnF.InvalidArgument)."""

    code = "FnF.InvalidArgument"

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)
