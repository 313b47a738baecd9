"""The HTTP face: CloudFlow RPC actions with signature checks, in CloudFlow's error format."""

from stateway.api._app import create_app
from stateway.api._server import BackgroundServer, ClosingServer
from stateway.api._signature import DEV_CREDENTIALS, sign_rpc_v1

__all__ = ["DEV_CREDENTIALS", "BackgroundServer", "ClosingServer", "create_app", "sign_rpc_v1"]
