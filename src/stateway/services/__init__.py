"""Local stand-ins for the cloud services the integrations call.

Imports are lazy: a function's process imports ``stateway.services.FunctionError`` and should
not pay for the function runtime (httpx, the engine) to do so.
"""

from __future__ import annotations

from typing import Any

from stateway.services.function_error import FunctionError

__all__ = ["FunctionError", "FunctionRuntime", "FunctionSpec", "Invocation"]


def __getattr__(name: str) -> Any:
    if name in ("FunctionRuntime", "FunctionSpec", "Invocation"):
        from stateway.services import functions

        return getattr(functions, name)
    raise AttributeError(name)
