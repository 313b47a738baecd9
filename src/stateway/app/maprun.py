"""Map Runs (a distributed Map's children): reading one, and changing its concurrency and tolerance
while it runs."""

from __future__ import annotations

from typing import Any

from stateway.app.errors import MapRunNotRunning
from stateway.app.executions import Executions
from stateway.engine import MAP_RUN_ACTION
from stateway.runtime import InvalidArgument, Runtime
from stateway.store import MapRunNotExists


class MapRuns:
    def __init__(self, runtime: Runtime, executions: Executions) -> None:
        self.runtime = runtime
        self.executions = executions

    def describe(self, flow_name: str, execution_name: str, name: str) -> dict[str, Any]:
        """The run of that execution: status, times, settings and item counts."""
        row = self.executions.describe(flow_name, execution_name)
        try:
            run = self.runtime.store.get_map_run(name)
        except MapRunNotExists:
            run = None
        if run is None or run["execution_id"] != row.id:
            raise MapRunNotExists(f"the execution {row.name!r} has no Map Run {name!r}")
        return run

    def update(self, flow_name: str, execution_name: str, name: str, *, concurrency: int | None = None,
               tolerated_count: int | None = None, tolerated_percentage: float | None = None) -> dict[str, Any]:
        """Change what is given; ``MapRunNotRunning`` once the run has ended."""
        if concurrency is not None and concurrency < 1:
            raise InvalidArgument(f"Concurrency must be an integer of at least 1, got {concurrency!r}")
        if tolerated_count is not None and tolerated_count < 0:
            raise InvalidArgument(f"ToleratedFailedCount must be an integer of at least 0, got {tolerated_count!r}")
        if tolerated_percentage is not None and not 0 <= tolerated_percentage <= 100:
            raise InvalidArgument(f"ToleratedFailedPercentage must be from 0 to 100, got {tolerated_percentage!r}")
        run = self.describe(flow_name, execution_name, name)
        integration = self.runtime.registry.get(MAP_RUN_ACTION)
        updated = integration.update(run["name"], concurrency, tolerated_count,  # type: ignore[attr-defined]
                                     tolerated_percentage)
        if updated is None:
            raise MapRunNotRunning(f"the Map Run {run['name']!r} has ended ({run['status']})")
        return updated
