"""What a Python function raises to fail its task with an error name of its choosing.

Kept free of imports so that a function's process loads it at no cost.
"""

from __future__ import annotations


class FunctionError(Exception):
    """``raise FunctionError("Payment.CardDeclined", "insufficient funds")`` fails the task with the
    error ``Payment.CardDeclined`` (matched by Retry/Catch) instead of ``FC.Unknown``.

    Any exception class with a text attribute ``error_name`` does the same, so a function's own
    exceptions can choose their name: ``class CardDeclined(Exception): error_name = "Payment.CardDeclined"``.
    """

    def __init__(self, error_name: str, message: str = "") -> None:
        super().__init__(message or error_name)
        self.error_name = error_name
