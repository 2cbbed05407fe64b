"""``GET /docs``: the API reference in the browser, Swagger UI over the server's own OpenAPI document.

Swagger UI's release files are vendored in ``static/swagger-ui`` (``VENDORED.md`` there says which
release and licence) and served from the package, so the page works with no network access and
loads nothing from another origin. Its Content-Security-Policy lets it load scripts, styles and
the document from this origin only; images may also be ``data:`` URIs, which Swagger UI's
stylesheet draws its icons with (inline, so no request leaves the page). Swagger UI was chosen
over ReDoc and Scalar because it alone runs under a policy without ``'unsafe-inline'`` styles
(they inject ``<style>`` elements at run time) and lets a reader try an operation with a token.
"""

from __future__ import annotations

import functools
from importlib import resources

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
# name under /docs/: (file under static/, its type). Nothing else is served: no path reaches another file.
ASSETS = {
    "swagger-ui-bundle.js": ("swagger-ui/swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
    "swagger-ui.css": ("swagger-ui/swagger-ui.css", "text/css; charset=utf-8"),
    "favicon.png": ("swagger-ui/favicon-32x32.png", "image/png"),
    "api-docs.js": ("api-docs.js", "text/javascript; charset=utf-8"),
}
PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>ScaiVault API</title>
  <link rel="stylesheet" href="docs/swagger-ui.css">
  <link rel="icon" type="image/png" href="docs/favicon.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="docs/swagger-ui-bundle.js"></script>
  <script src="docs/api-docs.js"></script>
</body>
</html>
"""


def routes() -> list[Route]:
    """``/docs`` and the files it loads (no token needed: the OpenAPI document is public too)."""
    return [Route("/docs", page, methods=["GET"]), Route("/docs/{name}", asset, methods=["GET"])]


async def page(request: Request) -> Response:
    return HTMLResponse(PAGE, headers={**HEADERS, "Cache-Control": "no-cache"})


async def asset(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in ASSETS:
        raise HTTPException(404)  # answered as any unknown path is, with the standard error body
    path, media_type = ASSETS[name]
    # The files change only with the installed version, so a browser may keep them for a while.
    return Response(_read(path), media_type=media_type, headers={**HEADERS, "Cache-Control": "public, max-age=3600"})


@functools.cache
def _read(path: str) -> bytes:
    """A static file's bytes, read once per process (the bundle is 1.7 MB)."""
    return resources.files("scaivault_core.rest").joinpath("static", path).read_bytes()
