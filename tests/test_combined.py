"""Flat combining (integrations/_combined.py): work submitted by many threads is done in batches by
one of them; each submitter returns once its own work is done, with the error of its batch."""

from __future__ import annotations

import threading
import time

import pytest

from stateway.integrations._combined import Combined


def test_every_item_is_handled_once_in_batches_and_each_submitter_waits_for_its_own():
    handled: list[tuple[str, list[int]]] = []
    done: set[int] = set()

    def handle(key: str, items: list[int]) -> None:
        time.sleep(0.01)  # others queue meanwhile
        handled.append((key, items))
        done.update(items)

    combined: Combined[int] = Combined(handle)
    seen_done: list[bool] = []

    def submit(n: int) -> None:
        combined.submit(f"k{n % 3}", n)
        seen_done.append(n in done)

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(60)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(n for _, items in handled for n in items) == list(range(60))
    assert all(seen_done) and len(seen_done) == 60
    assert len(handled) < 60  # batched
    assert all(all(n % 3 == int(key[1]) for n in items) for key, items in handled)


def test_an_error_reaches_every_submitter_of_its_batch_only():
    def handle(key: str, items: list[int]) -> None:
        if key == "bad":
            raise ValueError("no")

    combined: Combined[int] = Combined(handle)
    combined.submit("good", 1)
    with pytest.raises(ValueError):
        combined.submit("bad", 2)
    combined.submit("good", 3)  # the doer's role was given back
