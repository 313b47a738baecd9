"""Functions that keep a flow converted from the older dialect (``stateway convert``, fdl-v1.md §12)
exact where the newer dialect's own rules differ. Stateway extensions, like ``jsonPath()``; any
flow may call them, but they exist for converted flows and carry the older dialect's rules:

- ``v1Result(value, decode)``: a task's ``$local`` (fdl-v1.md §3.2): nothing (``null`` or ``""``)
  is ``{}``; with ``decode`` true (a function's ``Body``), text holding JSON is that JSON.
- ``v1Condition(value)``: the older dialect's truth (§7): ``null`` is false, a boolean is itself,
  anything else fails with ``FnF.InvalidArgument``.
- ``v1Sized(output, input, local, limit, step)``: ``output``, once it is an object and the step's
  input, output and local together are at most ``limit`` bytes (§3.6); over it,
  ``FnF.DataLimitExceeded``. ``local`` ``true`` stands for the output itself.
"""

from __future__ import annotations

import json
from typing import Any

from stateway.expr._errors import EvaluationError
from stateway.expr._values import type_name
from stateway.jsontext import dumps


class DataLimitError(EvaluationError):
    code = "FnF.DataLimitExceeded"


def v1_result(value: Any, decode: Any = False) -> Any:
    if decode is True and isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else None
        except ValueError:
            pass
    return {} if value is None or value == "" else value


def v1_condition(value: Any) -> bool:
    if value is None:
        return False
    if type(value) is not bool:
        raise EvaluationError(f"the condition gave {dumps(value)}, not a boolean")
    return value


def v1_sized(output: Any, step_input: Any, local: Any, limit: Any, step: Any) -> Any:
    if local is True:  # the local is the output itself (a step without outputMappings)
        local = output
    if type(output) is not dict:
        raise EvaluationError(f"the result of step {step!r} is {type_name(output)}, not an object; read it with "
                              "outputMappings (e.g. source: $local[0])")
    size = len(dumps(output).encode()) + len(dumps(step_input).encode()) + (len(dumps(local).encode()) if local
                                                                            else 2)
    if isinstance(limit, int) and size > limit:
        raise DataLimitError(f"step {step!r}: input, output and local are {size} bytes together, over the limit of "
                             f"{limit}")
    return output
