"""Runs one Python handler in its own process: request JSON on stdin, one result line on stdout.

The handler's own prints go to stderr so that they cannot corrupt the result.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import traceback


def main() -> int:
    request = json.loads(sys.stdin.read())
    result_stream = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    class Context:
        def __init__(self, data: dict) -> None:
            self.__dict__.update(data)

        def __getitem__(self, key: str) -> object:
            return self.__dict__[key]

        def get(self, key: str, default: object = None) -> object:
            return self.__dict__.get(key, default)

    try:
        spec = importlib.util.spec_from_file_location("stateway_function", request["file"])
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        value = module.handler(request["event"], Context(request["context"]))
        try:
            payload = json.dumps({"ok": True, "result": value})
        except TypeError:
            payload = json.dumps({"ok": True, "result": value.decode() if isinstance(value, bytes) else str(value)})
    except BaseException as exc:  # the function's failure is the result, whatever it was
        payload = json.dumps({"ok": False, "type": type(exc).__name__, "message": str(exc) or type(exc).__name__,
                              "trace": traceback.format_exc(limit=5)})
    result_stream.write(payload + "\n")
    result_stream.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
