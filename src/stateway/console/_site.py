"""What every page of the console stands on: the signed-in session (and the automatic one on a
loopback listener with no keys), the key's access policy, the templates, the CSRF-checked form, the
page wrapper that turns ``HttpError`` and ``AccessDenied`` into error pages, redirects after a change.
The pages themselves are ``Console`` (``_app``) and the modules it adds routes from."""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import orjson
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from stateway.api._signature import DEV_CREDENTIALS
from stateway.app import Stateway
from stateway.console import _queries as q
from stateway.console._auth import COOKIE, Session, Sessions, is_loopback
from stateway.console._graph import STATUSES
from stateway.console._progress import ProgressCache
from stateway.policies import AccessDenied, Keyring, Policy
from stateway.runtime import FINAL_STATUSES

VALUE_CHARS = 50_000  # input/output shown on a page (a page stays under 2 MB)
MAX_FORM = 1024 * 1024
HEADERS = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
           "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                                      "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'"}

Handler = Callable[[Request, Session, Mapping[str, str]], Response]


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _pretty(value: Any, limit: int = VALUE_CHARS) -> str:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            pass
    try:
        text = orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
    except TypeError:
        text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    if len(text) > limit:
        return text[:limit] + f"\n… ({len(text) - limit} more characters)"
    return text


class Site:
    """The console's common parts; ``Console`` adds the pages."""

    def __init__(self, service: Stateway, credentials: Mapping[str, str]) -> None:
        self.service = service
        self.store = service.runtime.store
        self.credentials = credentials
        self.keyring = Keyring.of(credentials)
        self.sessions = Sessions(self.store.get_secret(), credentials, store=self.store)
        self.progress_cache = ProgressCache()
        self.env = Environment(loader=PackageLoader("stateway.console", "templates"),
                               autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
        self.env.globals.update(show_time=q.show_time, show_duration=q.show_duration, duration=q.duration,
                                STATUSES=STATUSES, quote=lambda s: quote(str(s), safe=""), FINAL=FINAL_STATUSES,
                                pretty=_pretty)

    # -- access policies ----------------------------------------------------------------------------
    def policy(self, session: Session) -> Policy:
        return self.keyring.policy(session.key_id)

    def allow(self, session: Session, action: str, *, flow: str | None = None, queue: str | None = None) -> None:
        """``AccessDenied`` (a 403 page) unless the session's key may do ``action`` on ``flow``/``queue``."""
        self.policy(session).check(action, flow=flow, queue=queue, key_id=session.key_id)

    def can(self, session: Session | None) -> Callable[..., bool]:
        """For templates: whether to show a control (the server refuses it anyway)."""
        policy = self.policy(session) if session is not None else None

        def can(action: str, flow: str | None = None) -> bool:
            return policy is not None and policy.allows(action) and (flow is None or policy.sees_flow(flow))
        return can

    def render(self, template: str, request: Request, session: Session | None, status: int = 200,
               **context: Any) -> HTMLResponse:
        html = self.env.get_template(template).render(
            request=request, session=session, base=self.base(request), notice=request.query_params.get("notice", ""),
            can=self.can(session),
            problem=request.query_params.get("error", ""), **context)
        return HTMLResponse(html, status_code=status, headers=HEADERS)

    @staticmethod
    def base(request: Request) -> str:
        return request.scope.get("root_path", "").rstrip("/")

    def _auto_open(self, request: Request) -> bool:
        """No keys configured on a loopback listener: the API takes the development pair, so do we."""
        server = request.scope.get("server") or ("", 0)
        return dict(self.credentials) == DEV_CREDENTIALS and is_loopback(str(server[0]))

    def _session(self, request: Request) -> tuple[Session | None, str | None]:
        """The request's session, and a new cookie to set when one was opened automatically."""
        session = self.sessions.read(request.cookies.get(COOKIE))
        if session is None and self._auto_open(request):
            cookie = self.sessions.issue(next(iter(DEV_CREDENTIALS)))
            return self.sessions.read(cookie), cookie
        return session, None

    def _set_cookie(self, response: Response, request: Request, value: str) -> None:
        response.set_cookie(COOKIE, value, max_age=self.sessions.seconds, path=self.base(request) or "/",
                            httponly=True, samesite="strict", secure=request.url.scheme == "https")

    def _page(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            session, new_cookie = self._session(request)
            if session is None:
                if request.method != "GET" or request.url.path.endswith("/live"):
                    return JSONResponse({"error": "not signed in"}, status_code=401) if request.method == "GET" \
                        else self._to_login(request)
                return self._to_login(request)
            form: dict[str, str] = {}
            try:
                if request.method == "POST":
                    form = await _form(request)
                    if not hmac.compare_digest(form.get("csrf", ""), session.csrf):
                        raise HttpError(403, "This form has expired or did not come from this console "
                                             "(CSRF check failed). Reload the page and try again.")
                response = await run_in_threadpool(handler, request, session, form)
            except HttpError as exc:
                response = self.render("error.html", request, session, exc.status, message=exc.message)
            except AccessDenied as exc:
                response = self.render("error.html", request, session, 403, message=f"AccessDenied: {exc}")
            if new_cookie:
                self._set_cookie(response, request, new_cookie)
            return response

        return endpoint

    def _to_login(self, request: Request) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        response = RedirectResponse(f"{self.base(request)}/login?{urlencode({'next': target})}", status_code=303)
        if COOKIE in request.cookies:  # expired, or its key was removed: forget it for good
            response.delete_cookie(COOKIE, path=self.base(request) or "/")
        return response

    def back(self, request: Request, target: str, **params: str) -> RedirectResponse:
        """Redirect after a change (post/redirect/get), with a notice or an error to show."""
        if not target.startswith(self.base(request) + "/") or target.startswith("//"):
            target = self.base(request) + "/executions"
        clean = {k: v for k, v in params.items() if v}
        if clean:
            target += ("&" if "?" in target else "?") + urlencode(clean)
        return RedirectResponse(target, status_code=303)

    def _execution(self, request: Request, session: Session, action: str = "fnf:DescribeExecution") -> Any:
        self.allow(session, action, flow=request.path_params["flow"])
        row = q.execution(self.service, request.path_params["flow"], request.path_params["name"])
        if row is None:
            raise HttpError(404, f"the execution {request.path_params['name']!r} of flow "
                                 f"{request.path_params['flow']!r} does not exist")
        return row



async def _form(request: Request) -> dict[str, str]:
    """The console's forms are url-encoded; no multipart parser needed."""
    body = await request.body()
    if len(body) > MAX_FORM:
        raise HttpError(413, f"the form is over {MAX_FORM} bytes")
    pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    request.state.form_pairs = pairs  # every value of a repeated field (the executions list's checkboxes)
    return dict(pairs)
