"""Runs one Python handler in its own process: request JSON on stdin, one result line on the file
descriptor named by ``STATEWAY_RESULT_FD``.

The handler's own stdout and stderr stay the process's fd 1 and 2, so the parent keeps them as
the invocation's logs, and nothing the handler (or a child process of it) prints can corrupt the
result.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import traceback
from typing import Any

# a raised exception's Detail keeps this many innermost traceback frames
TRACE_FRAMES = 5
GENERIC_BASES = frozenset({"BaseException", "Exception", "object"})


class Context:
    def __init__(self, data: dict[str, Any]) -> None:
        self.__dict__.update(data)

    def __getitem__(self, key: str) -> object:
        return self.__dict__[key]

    def get(self, key: str, default: object = None) -> object:
        return self.__dict__.get(key, default)


def result_value(value: Any) -> Any:
    """The JSON value of what a handler returned: text (or UTF-8 bytes) that is JSON is decoded,
    as for command functions; other text stays text. Raises TypeError naming what is not JSON."""
    if isinstance(value, (bytes, bytearray)):
        try:
            value = bytes(value).decode()
        except UnicodeDecodeError:
            raise TypeError("the function returned bytes that are not UTF-8 text") from None
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise TypeError(f"the function returned a value that is not JSON: {_not_json(value, exc)}") from None
    return value


def _not_json(value: Any, exc: BaseException) -> str:
    """Name the offending type: the returned value's own, or the innermost one json refused."""
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if isinstance(exc, ValueError):
        return f"{exc} (NaN and Infinity are not JSON)"
    message = str(exc)  # "Object of type set is not JSON serializable"
    if message.startswith("Object of type "):
        inner = message[len("Object of type "):].split(" ", 1)[0]
        if inner != type(value).__name__:
            return f"{type(value).__name__} holding a {inner}"
        return f"a {inner}"
    return f"{type(value).__name__} ({message})"


def failure(exc: BaseException) -> dict[str, Any]:
    kind = type(exc)
    names = [k.__name__ for k in kind.__mro__ if k.__name__ not in GENERIC_BASES]
    message = str(exc) or kind.__name__
    # the host's own frame and the import machinery say nothing about the function
    stack = [f for f in traceback.extract_tb(exc.__traceback__)
             if f.filename != __file__ and not f.filename.startswith("<frozen")][-TRACE_FRAMES:]
    frames = ["Traceback (most recent call last):\n", *traceback.format_list(stack)] if stack else []
    chosen = getattr(exc, "error_name", None)
    return {"ok": False, "type": kind.__name__, "classes": names, "message": message,
            "trace": "".join(frames), "error": chosen if isinstance(chosen, str) and chosen else None}


def main() -> int:
    request = json.loads(sys.stdin.read())
    result_stream = os.fdopen(int(os.environ["STATEWAY_RESULT_FD"]), "w")
    try:
        spec = importlib.util.spec_from_file_location("stateway_function", request["file"])
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        value = result_value(module.handler(request["event"], Context(request["context"])))
        payload = json.dumps({"ok": True, "result": value})
    except BaseException as exc:  # the function's failure is the result, whatever it was
        payload = json.dumps(failure(exc))
    sys.stdout.flush()
    sys.stderr.flush()
    result_stream.write(payload + "\n")
    result_stream.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
