"""One adapter per Action. Each declares the TaskModes it supports (fdl.md §6)."""

from stateway.integrations.brokers import BROKER_INTEGRATIONS
from stateway.integrations.fc import InvokeFunction
from stateway.integrations.fnf import StartExecution
from stateway.integrations.http import HttpRequest
from stateway.integrations.maprun import MapRun
from stateway.integrations.mns import SendMessage

BUILTIN_INTEGRATIONS = [InvokeFunction, StartExecution, SendMessage, HttpRequest, MapRun, *BROKER_INTEGRATIONS]

__all__ = ["BUILTIN_INTEGRATIONS", "HttpRequest", "InvokeFunction", "MapRun", "SendMessage", "StartExecution"]
