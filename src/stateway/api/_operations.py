"""Stateway actions for operating executions (docs/api.md): RedriveExecution, and bulk operations
(StartBulkOperation, DescribeBulkOperation, ListBulkOperations, CancelBulkOperation)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stateway.api._actions import (
    ApiError,
    CloudFlowService,
    _execution_key,
    _int,
    _time,
    execution_view,
    required,
)
from stateway.app.bulk import BulkFilter
from stateway.app.errors import ExecutionNotRedrivable
from stateway.timefmt import iso


def redrive_execution(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    try:
        row = service.app.executions.redrive(*_execution_key(params))
    except ExecutionNotRedrivable as exc:
        raise ApiError(400, exc.code, str(exc)) from None
    return {**execution_view(row, metadata_only=True), **redrive_fields(service, row)}


def redrive_fields(service: CloudFlowService, row: Any) -> dict[str, Any]:
    """What DescribeExecution adds: how often it was redriven, when last, and whether it can be now."""
    status, why = service.app.executions.redrive_status(row)
    fields: dict[str, Any] = {"RedriveCount": row.redrive_count, "RedriveStatus": status}
    if row.redriven:
        fields["RedriveDate"] = iso(row.redriven)
    if why:
        fields["RedriveStatusReason"] = why
    return fields


def bulk_view(job: dict[str, Any]) -> dict[str, Any]:
    f = job["filter"]
    selection = {"FlowName": f.get("flow_name"), "Status": f.get("status"), "ExecutionNamePrefix": f.get("name_prefix"),
                 "StartedTimeBegin": iso(f["started_from"]) if f.get("started_from") is not None else None,
                 "StartedTimeEnd": iso(f["started_to"]) if f.get("started_to") is not None else None,
                 "ErrorCode": f.get("error"), "MapRunName": f.get("map_run")}
    return {"BulkOperationId": job["id"], "Operation": job["operation"], "Status": job["status"],
            "Filter": {k: v for k, v in selection.items() if v is not None},
            "Total": job["total"], "Done": job["n_done"], "Skipped": job["n_skipped"], "Failed": job["n_failed"],
            "CreatedTime": iso(job["created"]), "UpdatedTime": iso(job["updated"])}


def start_bulk_operation(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    selection = BulkFilter(flow_name=required(params, "FlowName"), status=params.get("Status") or None,
                           name_prefix=params.get("ExecutionNamePrefix") or "",
                           started_from=_time(params, "StartedTimeBegin"), started_to=_time(params, "StartedTimeEnd"),
                           error=params.get("ErrorCode") or None, map_run=params.get("MapRunName") or None)
    return bulk_view(service.app.bulk.start(required(params, "Operation").lower(), selection))


def describe_bulk_operation(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    return bulk_view(service.app.bulk.describe(required(params, "BulkOperationId")))


def list_bulk_operations(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    jobs = service.app.bulk.list(_int(params, "Limit", 50, 1, 1000), params.get("Status") or None)
    return {"BulkOperations": [bulk_view(j) for j in jobs]}


def cancel_bulk_operation(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    return bulk_view(service.app.bulk.cancel(required(params, "BulkOperationId")))


OPERATION_ACTIONS = {
    "RedriveExecution": redrive_execution,
    "StartBulkOperation": start_bulk_operation, "DescribeBulkOperation": describe_bulk_operation,
    "ListBulkOperations": list_bulk_operations, "CancelBulkOperation": cancel_bulk_operation,
}
