from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# CI runs Hypothesis derandomised: the same examples every run, so a red build means a real bug
# (examples it found once are kept as @example in the tests). Local runs explore new ones.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))

from tests.api.fixtures import fnf, server  # noqa: E402, F401  (fixtures)
from tests.pg.cluster import pg_cluster, pg_url  # noqa: E402, F401  (fixtures)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _stateway_logger_reset():
    """A command run in-process (click's runner, a server a fixture started) points the ``stateway``
    logger at its own stderr and stops propagation, and a tool configuring logging (import-linter)
    disables the loggers that exist; each test starts with them plain again, so its ``caplog`` hears
    them and nothing writes to a stream a runner closed."""
    import logging

    logger = logging.getLogger("stateway")
    logger.handlers[:], logger.propagate = [], True
    logger.setLevel(logging.NOTSET)
    for name, each in list(logging.root.manager.loggerDict.items()):
        if name.startswith("stateway") and isinstance(each, logging.Logger):
            each.disabled = False
    yield
    logger.handlers[:], logger.propagate = [], True
    logger.setLevel(logging.NOTSET)


@pytest.fixture
def memory_runtime(tmp_path):
    from stateway.runtime import Runtime
    from stateway.settings import Settings
    from stateway.store import SQLiteStore

    runtimes = []

    def make(functions: dict[str, str] | None = None, **settings):
        fdir = tmp_path / "functions"
        fdir.mkdir(exist_ok=True)
        for name, source in (functions or {}).items():
            (fdir / f"{name}.py").write_text(source)
        runtime = Runtime(SQLiteStore.in_memory(), settings=Settings.from_config(settings, functions_dir=fdir))
        runtime.start()
        runtimes.append(runtime)
        return runtime

    yield make
    for runtime in runtimes:
        runtime.close()
