"""``--wait [SECONDS]`` on ``exec start`` and ``exec describe``: a flag that may take a number.

Bare ``--wait`` waits for the end (``exec start``) or as long as one long poll may (``exec
describe``); ``--wait 120`` waits up to that many seconds. Click reads an option's value from the
next word whatever it is, so a bare ``--wait`` before an argument (``exec start --wait FLOW``)
would take the flow's name as its value: the command rewrites a ``--wait`` not followed by a
number into ``--wait=bare`` before parsing."""

from __future__ import annotations

from typing import Any

import click

BARE = -1.0  # the value of a bare --wait


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


class WaitSeconds(click.ParamType):
    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, float):
            return value
        if value == "bare":
            return BARE
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if seconds < 0 or seconds != seconds or seconds == float("inf"):
            self.fail(f"{value!r}: give a number of seconds ≥ 0", param, ctx)
        return seconds


class OptionalWaitCommand(click.Command):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        rewritten = []
        for i, word in enumerate(args):
            if word == "--":
                rewritten.extend(args[i:])
                break
            if word == "--wait" and (i + 1 == len(args) or not _is_number(args[i + 1])):
                word = "--wait=bare"
            rewritten.append(word)
        return super().parse_args(ctx, rewritten)


def wait_option(help_text: str) -> Any:
    return click.option("--wait", "wait", type=WaitSeconds(), default=None, metavar="[SECONDS]", help=help_text)
