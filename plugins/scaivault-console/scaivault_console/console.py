"""The console's plumbing: one ``Console`` per app, holding its sign-ins and templates.

Every page goes through ``Console.route``: the sign-in cookie is looked up, its token authenticated
by the vault (so a revoked or expired token ends the sign-in at once), a POST's CSRF token and
origin are checked, and the page function runs with a ``Session`` acting as the signed-in identity.
A ScaiVault error a page raises is shown as a page (a GET) or as a message on the page the action
came from (a POST); nothing here decides what an identity may do: the vault does, call by call.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import attrs
import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from scaivault_core import (
    InvalidRequest,
    PermissionDenied,
    ScaiVaultError,
    Session,
    Unauthenticated,
    Vault,
    format_duration,
)

from .sign_ins import SignIn, SignInForms, SignIns, same_token

COOKIE = "scaivault_console"  # the sign-in's random id; never the token
FORM_COOKIE = "scaivault_console_form"  # the sign-in form's CSRF cookie, before anyone is signed in
MAX_FORM_BYTES = 16 * 1024

# No inline script or style anywhere, no other origin: what an injected tag could load or run is nothing.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",  # "no-referrer" would make browsers send "Origin: null" with forms
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-store",
}
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}
SIGN_IN_REASONS = {  # why the sign-in page is shown: fixed texts, never text from the URL
    "signed-out": "You are signed out.",
    "expired": "Your token has expired or was revoked: sign in again.",
    "idle": "Your console session ended: sign in again.",
}


@attrs.define
class View:
    """What a page function returns to be rendered."""

    template: str
    context: dict[str, Any] = attrs.field(factory=dict)
    status: int = 200


@attrs.define
class Page:
    """What a page function gets: the request, the vault, and a ``Session`` acting as the signed-in identity."""

    request: Request
    vault: Vault
    session: Session
    sign_in: SignIn
    form: dict[str, str]
    now: float

    @property
    def identity(self) -> str:
        return self.sign_in.identity

    def query(self, name: str, default: str = "") -> str:
        value = self.request.query_params.get(name, default).strip()
        if len(value) > 512:
            raise InvalidRequest(f"{name} is too long.", field=name)
        return value

    def back(self, default: str = "/ui/") -> str:
        """Where an action returns to: the form's ``back`` field, if it is a console page."""
        return safe_next(self.form.get("back"), default)

    def flash(self, kind: str, text: str) -> None:
        self.sign_in.flash(kind, text)


def safe_next(value: str | None, default: str = "/ui/") -> str:
    """``value`` if it is a path on this console (so no action can redirect a browser elsewhere)."""
    if not value or not value.startswith("/ui/") or "\\" in value or any(ord(c) < 0x20 for c in value):
        return default
    parts = urlsplit(value)
    return value if not parts.scheme and not parts.netloc else default


class Console:
    def __init__(self, *, idle_timeout: float = 1800, lifetime: float = 12 * 3600) -> None:
        self.sign_ins = SignIns(idle_timeout=idle_timeout, lifetime=lifetime)
        self.forms = SignInForms()
        self.static = _load_static()
        self.env = jinja2.Environment(
            loader=jinja2.PackageLoader("scaivault_console", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(when=when, left=left, duration=format_duration, pretty=pretty)
        self.env.globals.update(static=self.static_url, query_with=query_with)

    # -- routes ---------------------------------------------------------------------------------

    def route(self, path: str, page: Callable[[Page], Any], methods: tuple[str, ...] = ("GET",)) -> Route:
        """A route that serves ``page`` to a signed-in caller (and sends anyone else to sign in)."""

        async def endpoint(request: Request) -> Response:
            form = await read_form(request) if request.method == "POST" else {}
            return await run_in_threadpool(self._serve, page, request, form)

        return Route(path, endpoint, methods=list(methods), name=None)

    def _serve(self, page_function: Callable[[Page], Any], request: Request, form: dict[str, str]) -> Response:
        vault: Vault = request.app.state.vault
        cookie = request.cookies.get(COOKIE)
        sign_in = self.sign_ins.get(cookie)
        if sign_in is None:
            return self.to_sign_in(request, "idle" if cookie else None)
        try:
            session = vault.authenticate(sign_in.token)
        except Unauthenticated:
            self.sign_ins.end(cookie)
            return self.to_sign_in(request, "expired")
        if request.method == "POST" and not (same_origin(request) and same_token(sign_in.csrf, form.get("csrf"))):
            return self.render_error(
                request,
                sign_in,
                403,
                "This form is not one the console gave you (its CSRF token "
                "or origin does not match): reload the page and try again.",
            )
        page = Page(request, vault, session, sign_in, form, vault.clock.time())
        try:
            result = page_function(page)
        except ScaiVaultError as err:
            if request.method == "POST":
                page.flash(flash_kind(err), err.message)
                return redirect(page.back())
            result = View("error.html", {"error": err, "denied": isinstance(err, PermissionDenied)}, err.status)
        if isinstance(result, Response):
            return result
        return self.render(request, result, sign_in)

    def to_sign_in(self, request: Request, reason: str | None) -> Response:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        query = {"next": here} if request.method == "GET" and here not in ("/ui/", "/ui/sign-in") else {}
        if reason:
            query["why"] = reason
        response = redirect("/ui/sign-in" + (f"?{urlencode(query)}" if query else ""))
        if reason:
            response.delete_cookie(COOKIE, path="/ui/", httponly=True, samesite="strict")
        return response

    # -- signing in and out ---------------------------------------------------------------------

    async def sign_in_form(self, request: Request) -> Response:
        """GET shows the form; POST takes the token from it (never from a URL) and starts a sign-in."""
        form = await read_form(request) if request.method == "POST" else {}
        return await run_in_threadpool(self._sign_in, request, form)

    def _sign_in(self, request: Request, form: dict[str, str]) -> Response:
        next_page = safe_next(form.get("next") or request.query_params.get("next"))
        if request.method == "GET" and self.sign_ins.get(request.cookies.get(COOKIE)) is not None:
            return redirect(next_page)
        why = request.query_params.get("why", "")
        message, status = SIGN_IN_REASONS.get(why), 200
        if request.method == "POST":
            if not (same_origin(request) and self.forms.check(request.cookies.get(FORM_COOKIE), form.get("csrf"))):
                message, status = "The sign-in form had expired: sign in again.", 403
            else:
                token = form.get("token", "").strip()
                try:
                    caller = request.app.state.vault.authenticate(token).identity
                except Unauthenticated:
                    message, status = "That token is not valid, has expired or was revoked.", 401
                else:
                    self.sign_ins.end(request.cookies.get(COOKIE))  # whoever was signed in here is not any more
                    cookie, _ = self.sign_ins.start(token, caller)
                    response = redirect(next_page)
                    response.set_cookie(
                        COOKIE,
                        cookie,
                        path="/ui/",
                        httponly=True,
                        samesite="strict",
                        secure=request.url.scheme == "https",
                    )
                    response.delete_cookie(FORM_COOKIE, path="/ui/sign-in", httponly=True, samesite="strict")
                    return response
        form_cookie = self.forms.new_cookie()
        kind = "ok" if status == 200 and why == "signed-out" else "error"
        view = View(
            "sign_in.html",
            {
                "form_csrf": self.forms.token_for(form_cookie),
                "message": message,
                "message_kind": kind,
                "next": next_page,
            },
            status,
        )
        response = self.render(request, view)
        response.set_cookie(
            FORM_COOKIE,
            form_cookie,
            path="/ui/sign-in",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    def sign_out(self, page: Page) -> Response:
        self.sign_ins.end(page.request.cookies.get(COOKIE))
        response = redirect("/ui/sign-in?why=signed-out")
        response.delete_cookie(COOKIE, path="/ui/", httponly=True, samesite="strict")
        return response

    # -- rendering ------------------------------------------------------------------------------

    def render(self, request: Request, view: View, sign_in: SignIn | None = None) -> HTMLResponse:
        context = {
            "signed_in": sign_in,
            "identity": sign_in.identity if sign_in else None,
            "csrf": sign_in.csrf if sign_in else "",
            "flashes": sign_in.take_flashes() if sign_in else [],
            "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            "path": request.url.path,
            **view.context,
        }
        html = self.env.get_template(view.template).render(context)
        return HTMLResponse(html, status_code=view.status, headers=HEADERS)

    def render_error(self, request: Request, sign_in: SignIn | None, status: int, message: str) -> HTMLResponse:
        error = InvalidRequest(message)
        return self.render(request, View("error.html", {"error": error, "denied": status == 403}, status), sign_in)

    def static_url(self, name: str) -> str:
        return f"/ui/static/{name}?v={self.static[name][1]}"

    def serve_static(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in self.static:
            return Response("Not found.", status_code=404, media_type="text/plain", headers=HEADERS)
        body, version = self.static[name]
        headers = {**HEADERS, "Cache-Control": "public, max-age=86400", "ETag": f'"{version}"'}
        return Response(body, media_type=STATIC_TYPES[name[name.rindex(".") :]], headers=headers)


# -- request and response helpers ------------------------------------------------------------------


async def read_form(request: Request) -> dict[str, str]:
    """An urlencoded form of at most ``MAX_FORM_BYTES`` (every console form is small and has no files)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise InvalidRequest(f"A console form is at most {MAX_FORM_BYTES} bytes.")
    if not body:
        return {}
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        raise InvalidRequest("The console takes forms as application/x-www-form-urlencoded.")
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=64))
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("The form could not be read.") from None


def same_origin(request: Request) -> bool:
    """Did this POST come from a page of this origin? Browsers say so in ``Sec-Fetch-Site``; older ones in
    ``Origin``. A client that sends neither is no browser a forged page could drive (the CSRF token still counts)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site == "same-origin"
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.headers.get("host")


def redirect(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303, headers=HEADERS)


def flash_kind(err: ScaiVaultError) -> str:
    return "denied" if isinstance(err, PermissionDenied) else "error"


def query_with(here: str, **changes: Any) -> str:
    """The current page's URL with some query parameters changed (``None`` removes one)."""
    parts = urlsplit(here)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = str(value)
    return parts.path + (f"?{urlencode(query)}" if query else "")


# -- template filters ---------------------------------------------------------------------------------


def when(epoch: float | None) -> str:
    if epoch is None:
        return "—"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def left(epoch: float | None, now: float) -> str:
    """How long until ``epoch`` ("in 1h42m", "3m ago"), to the second only under a minute."""
    if epoch is None:
        return "—"
    seconds = int(round(epoch - now))
    size = abs(seconds)
    span = f"{size}s" if size < 60 else format_duration(size // 60 * 60)
    return f"in {span}" if seconds >= 0 else f"{span} ago"


def pretty(value: Any) -> str:
    """JSON for reading; a plain string, so the template escapes it like any other value."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def _load_static() -> dict[str, tuple[bytes, str]]:
    folder = resources.files("scaivault_console") / "static"
    files = {}
    for item in folder.iterdir():
        if item.is_file() and any(item.name.endswith(ext) for ext in STATIC_TYPES):
            body = item.read_bytes()
            files[item.name] = (body, hashlib.sha256(body).hexdigest()[:12])
    return files
