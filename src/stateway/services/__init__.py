"""Local stand-ins for the cloud services the integrations call."""

from stateway.services.functions import FunctionRuntime, FunctionSpec

__all__ = ["FunctionRuntime", "FunctionSpec"]
