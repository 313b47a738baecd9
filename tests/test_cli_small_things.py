"""Small things a new user hit (issue 20 §6): the callback hint of `stateway run`, `exec history` on a
terminal, `--wait [SECONDS]` on `exec start` and `exec describe`."""

from __future__ import annotations

import io
import json

import pytest


# -- the "Complete it with" hint ------------------------------------------------------------------------------
class _Store:
    def __init__(self) -> None:
        self.open: dict[str, str] = {}

    def open_tasks(self, execution_id: int) -> list[dict[str, str]]:
        return [{"task_id": task, "token": token} for task, token in self.open.items()]


def _progress(delay: float):  # type: ignore[no-untyped-def]
    from rich.console import Console

    from stateway.cli._run import Progress

    class Runtime:
        store = _Store()

    buffer = io.StringIO()
    progress = Progress(Runtime(), Console(file=buffer, force_terminal=False, width=300, color_system=None), [1])
    progress.HINT_AFTER_SECONDS = delay
    return progress, Runtime.store, buffer


def _scheduled(task: str) -> dict:
    return {"Type": "TaskScheduled", "StepName": "Approve", "Time": 0, "EventId": int(task),
            "EventDetail": {"taskMode": "WaitForCustomCallback"}}


def test_a_callback_answered_before_the_delay_gets_no_hint():
    progress, store, buffer = _progress(delay=3600)
    store.open["5"] = "tok-5"
    progress(1, [_scheduled("5")])
    progress.flush()
    assert "Complete it with" not in buffer.getvalue()  # not yet due
    del store.open["5"]  # the worker answered
    progress.HINT_AFTER_SECONDS = 0
    progress.hints = {key: (step, 0.0) for key, (step, _) in progress.hints.items()}
    progress.flush()
    assert "Complete it with" not in buffer.getvalue()


def test_a_callback_still_open_after_the_delay_gets_the_hint_once():
    progress, store, buffer = _progress(delay=0)
    store.open["7"] = "tok-7"
    progress(1, [_scheduled("7")])
    progress.flush()
    progress.flush()
    text = buffer.getvalue()
    assert text.count("Complete it with") == 1 and "task succeed" in text and "tok-7" in text


def test_no_hint_is_printed_once_the_run_is_over():
    progress, store, buffer = _progress(delay=3600)
    store.open["9"] = "tok-9"
    progress(1, [_scheduled("9")])
    progress.stop()
    assert "Complete it with" not in buffer.getvalue()


# -- exec history on a terminal ---------------------------------------------------------------------------------
def test_history_detail_is_readable_on_a_terminal():
    from stateway.cli._history_text import detail_lines

    traceback = 'Traceback (most recent call last):\n  File "f.py", line 1\nValueError: "bad"'
    detail = json.dumps({"error": "FC.Unknown", "cause": traceback, "output": json.dumps({"a": [1, 2]})})
    lines = detail_lines(detail)
    text = "\n".join(lines)
    assert '\\"' not in text and "\\n" not in text
    assert '  File "f.py", line 1' in text and 'ValueError: "bad"' in text
    assert "error: FC.Unknown" in text and '"a": [' in text
    assert detail_lines("") == [] and detail_lines("{}") == []
    assert detail_lines("not json") == ["not json"]


# -- --wait [SECONDS] ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("args, expected", [
    (["exec", "start", "f", "--wait"], -1.0),
    (["exec", "start", "f", "--wait", "120"], 120.0),
    (["exec", "start", "--wait", "f"], -1.0),
    (["exec", "start", "f", "--wait=5"], 5.0),
    (["exec", "start", "f"], None),
    (["exec", "describe", "f", "e", "--wait"], -1.0),
    (["exec", "describe", "f", "e", "--wait", "90"], 90.0),
    (["exec", "describe", "f", "--wait", "e"], -1.0),
])
def test_wait_takes_an_optional_number_of_seconds(args, expected, monkeypatch):
    from click.testing import CliRunner

    from stateway.cli import _main

    seen = {}

    def fake_start(**kwargs):  # type: ignore[no-untyped-def]
        seen.update(kwargs)

    name = "exec_start" if args[1] == "start" else "exec_describe"
    command = _main.exec_group.commands[args[1]]
    monkeypatch.setattr(command, "callback", lambda **kwargs: fake_start(**kwargs))
    result = CliRunner().invoke(_main.cli, args)
    assert result.exit_code == 0, (name, result.output)
    assert seen["wait"] == expected


def test_wait_refuses_a_negative_number():
    from click.testing import CliRunner

    from stateway.cli import _main

    result = CliRunner().invoke(_main.cli, ["exec", "describe", "f", "e", "--wait", "-3"])
    assert result.exit_code != 0
