"""The web console, served by ``stateway serve`` at ``/console/``: server-rendered pages over the same
service the API actions use (``stateway.api._actions``); every change goes through those actions."""

from stateway.console._app import create_console

__all__ = ["create_console"]
