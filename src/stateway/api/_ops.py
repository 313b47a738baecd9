"""Operations endpoints, on every ``serve`` and ``worker`` process: ``/healthz`` (the process is
alive), ``/readyz`` (the store answers and its migrations ran), ``/metrics`` (Prometheus)."""

from __future__ import annotations

import time

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from stateway.runtime import Runtime
from stateway.runtime import _metrics as metrics

_STATS_EVERY = 2.0  # seconds: the gauges cost a query; scrapes closer together reuse the last one


def ops_routes(runtime: Runtime) -> list[Route]:
    last = {"at": 0.0}

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "alive", "owner": runtime.owner})

    async def readyz(request: Request) -> Response:
        try:
            ok = await run_in_threadpool(runtime.store.ping)
        except Exception as exc:  # any failure to answer is "not ready", never a 500 page
            return JSONResponse({"status": "unavailable", "detail": str(exc)}, status_code=503)
        if not ok:
            return JSONResponse({"status": "unavailable", "detail": "the store does not answer"}, status_code=503)
        return JSONResponse({"status": "ready"})

    async def scrape(request: Request) -> Response:
        if time.monotonic() - last["at"] > _STATS_EVERY:
            last["at"] = time.monotonic()
            try:
                stats = await run_in_threadpool(runtime.store.work_stats, time.time())
                metrics.OUTBOX_DEPTH.set(stats["outbox_depth"])
                metrics.DUE_LAG.set(stats["due_lag"])
                metrics.QUEUE_DEPTH.set(stats["queue_depth"])
                metrics.TASKS_OPEN.set(stats.get("tasks_open", 0.0))
            except Exception:  # the store is away: serve the counters we have
                pass
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        metrics.DECISIONS  # noqa: B018  (made on first use: make them, so a fresh process shows zeros)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return [Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", scrape)]


def ops_app(runtime: Runtime) -> Starlette:
    """The endpoints alone, for a worker's --metrics-port."""
    return Starlette(routes=ops_routes(runtime))
