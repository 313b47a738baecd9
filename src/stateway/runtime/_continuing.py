"""A continuing execution's state kept in memory while this worker holds its claim.

A long deterministic run (a Map of 10,000 Pass items, a loop) yields every decision's budget. Each
such turn used to read the whole state (and input) from the store and write it back: quadratic in
the run's size. Now a turn that did nothing but go on — it consumed only its "continue" event and
yielded again, with no command, timer, task or end — writes only its history (fenced, the claim
kept and extended) and leaves its state here for the next turn.

Crash safety comes from what is *not* written: the inbox row of the "continue" event that began the
streak stays, and so does the state the store last had. A worker that dies mid-streak leaves both,
and whoever claims the execution next re-runs the streak from there: the interpreter is
deterministic for such turns, so it writes the same history events again (an upsert by event id).
Any other turn — fresh work (a stop, a result), a task, a timer, the end — or a streak older than
``CHECKPOINT_SECONDS`` is written in full, as before, and the memory is dropped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from stateway.engine.messages import Continue
from stateway.store import DecisionCommit, ExecutionRow

CHECKPOINT_SECONDS = 1.0  # the longest streak a crash makes the next worker re-run
CONTINUE = Continue().to_wire()


@dataclass
class InMemory:
    row: ExecutionRow  # its state is the stored one (what a crash goes back to); ``state`` is current
    state: dict[str, Any]
    inbox_ids: list[int]  # the "continue" row(s) that began the streak: deleted by the next full write
    since: float = field(default_factory=time.monotonic)


def memory_only(commit: DecisionCommit, consumed_continue: bool, new_consumed: list[int],
                events: dict[int, dict[str, Any]]) -> bool:
    """Whether a turn only went on: see the module's docstring."""
    d = commit.decision
    return (consumed_continue and d.yielded and d.ended is None and not d.commands and not commit.extra_commands
            and not d.opened_tasks and not d.closed_tasks and not d.cancelled_timers and not commit.gated_tasks
            and not commit.outbox_done and len(d.timers) == 1 and d.timers[0]["event"] == CONTINUE
            and all(events.get(i, {}).get("type") == "continue" for i in new_consumed))
