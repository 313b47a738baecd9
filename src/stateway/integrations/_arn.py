"""Reading a Task's ``resourceArn`` parameter."""

from __future__ import annotations

import re
from typing import Any

from stateway.runtime._outcomes import IntegrationError


def match_resource_arn(pattern: re.Pattern[str], parameters: dict[str, Any], what: str, expected: str) -> re.Match[str]:
    """The match of ``resourceArn``, or FnF.InvalidArgument saying what was expected."""
    arn = parameters.get("resourceArn")
    match = pattern.match(arn) if isinstance(arn, str) else None
    if match is None:
        raise IntegrationError("FnF.InvalidArgument", f"not a {what} ARN: {arn!r} (expected {expected})")
    return match
