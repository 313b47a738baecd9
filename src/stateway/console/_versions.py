"""Versions and aliases on a flow's page: the list, publishing a version, and creating or editing
an alias's routes (after a confirmation box is ticked). Changes go through ``stateway.app``'s
``flows`` service, as PublishFlowVersion, CreateFlowAlias and UpdateFlowAlias do."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stateway.console._site import Site
from stateway.runtime import InvalidArgument

if TYPE_CHECKING:
    from stateway.console._auth import Session

SHOWN = 60  # versions and aliases listed on the page, newest versions first


class VersionPages:
    def __init__(self, console: Site) -> None:
        self.console = console
        self.flows = console.service.flows

    def routes(self, page: Callable[..., Any]) -> list[Route]:
        return [Route("/flows/{flow}/versions", page(self.publish), methods=["POST"]),
                Route("/flows/{flow}/aliases", page(self.alias), methods=["POST"])]

    def context(self, flow_name: str) -> dict[str, Any]:
        """What the flow page lists: versions (newest first) and aliases with their routes."""
        return {"versions": self.flows.list_versions(flow_name, limit=SHOWN),
                "aliases": self.flows.list_aliases(flow_name, limit=SHOWN)}

    def _flow_page(self, request: Request) -> str:
        return f"{self.console.base(request)}/flows/{quote(request.path_params['flow'], safe='')}"

    def publish(self, request: Request, session: Session, form: Mapping[str, str]) -> Response:
        flow = request.path_params["flow"]
        self.console.allow(session, "fnf:PublishFlowVersion", flow=flow)
        try:
            version = self.flows.publish_version(flow, form.get("description", "").strip())
        except Exception as exc:  # FlowNotExists, a version limit: each carries a code
            return self.console.back(request, self._flow_page(request), error=f"Not published: {exc}")
        return self.console.back(request, self._flow_page(request),
                                 notice=f"Published version {version.get('version', version.get('Version', ''))}.")

    def alias(self, request: Request, session: Session, form: Mapping[str, str]) -> Response:
        """Create (``create=true``) or update an alias; routes are up to two version/weight pairs."""
        flow, name = request.path_params["flow"], form.get("name", "").strip()
        self.console.allow(session, "fnf:CreateFlowAlias" if form.get("create") == "true" else "fnf:UpdateFlowAlias",
                           flow=flow)
        if form.get("confirm") != "yes":
            return self.console.back(request, self._flow_page(request),
                                     error="Not changed: tick the box to confirm the new routes.")
        routes = []
        for i in (1, 2):
            version, weight = form.get(f"version{i}", "").strip(), form.get(f"weight{i}", "").strip()
            if version:
                routes.append({"Version": version, "Weight": weight or "0"})
        try:
            if form.get("create") == "true":
                self.flows.create_alias(flow, name, routes, form.get("description", "").strip())
            else:
                self.flows.update_alias(flow, name, routes)
        except InvalidArgument as exc:
            return self.console.back(request, self._flow_page(request), error=f"Not changed: {exc}")
        except Exception as exc:  # FlowAliasNotExists, FlowVersionNotExists, ...
            return self.console.back(request, self._flow_page(request),
                                     error=f"Not changed: {getattr(exc, 'code', 'Error')}: {exc}")
        return self.console.back(request, self._flow_page(request),
                                 notice=f"Alias {name} now routes " + ", ".join(
                                     f"{r['Weight']}% to version {r['Version']}" for r in routes) + ".")
