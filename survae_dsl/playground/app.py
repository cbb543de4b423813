"""The playground's web server: one page, its two static files and four JSON endpoints.

Who may talk to it: only this machine (it listens on 127.0.0.1) and only the page it served.
Every request must name the server in its Host header (`127.0.0.1:PORT` or `localhost:PORT`,
which defeats DNS rebinding: a hostile name resolved to 127.0.0.1 arrives with its own name),
must not come from another site (its Origin header, when sent, is this server's; a browser
adds it to every cross-site POST) and must carry the per-launch token, a random string printed
in the address: in the query of the page and its files, in the `X-Survae-Token` header of the
API calls. A page elsewhere in the same browser knows no token, so it can neither read nor
drive the playground (CSRF). Request bodies are limited in size (E501, as files are).

Endpoints (POST, JSON body, JSON reply unless a file):

- `/api/file` → {"name", "text", "can_save", "grammar"}: what to edit, and the language
  server's TextMate grammar that colours it;
- `/api/check` {"text", "collapse", "direction"} → `Workspace.check`'s view;
- `/api/save` {"text"} → {"saved": name} (403 when started without a file);
- `/api/download` {"text", "what", "collapse", "direction"} → the file, or 422 with the
  diagnostics when the text has errors.

A bad model is never an HTTP error: `/api/check` answers 200 with its diagnostics.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ..compiler.core import codes
from ..compiler.drivers.driver import MAX_SOURCE_BYTES
from .workspace import DIRECTIONS, DOWNLOADS, NotCompiled, SaveRefused, Workspace

if TYPE_CHECKING:
    from importlib.abc import Traversable  # importlib.resources.abc from Python 3.11 on

TOKEN_HEADER = "x-survae-token"
# A text at the file limit, JSON-escaped (a quote or backslash doubles), with room for the
# other fields: larger bodies are refused before they are read.
MAX_BODY_BYTES = 2 * MAX_SOURCE_BYTES + 4096
STATIC = {"playground.js": "text/javascript", "playground.css": "text/css"}
# The page runs only its own script and style; the diagram is inline SVG from our server.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class BodyTooLarge(Exception):
    """A request body over `MAX_BODY_BYTES`."""


class Guard:
    """ASGI middleware: refuses any request with a foreign Host or Origin or without the token."""

    def __init__(self, app: ASGIApp, port: int, token: str) -> None:
        self.app = app
        self.hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}
        self.origins = {f"http://{host}" for host in self.hosts}
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # a websocket: the playground has none, so none gets past
            await send({"type": "websocket.close", "code": 1008})
            return
        request = Request(scope)
        refusal = self.refusal(request)
        if refusal is not None:
            await _error(403, refusal)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def refusal(self, request: Request) -> str | None:
        """Why `request` is refused, or None."""
        if request.headers.get("host", "") not in self.hosts:
            return "this server answers only to 127.0.0.1 and localhost (a foreign Host header)"
        origin = request.headers.get("origin")
        if origin is not None and origin not in self.origins:
            return "requests from other sites are refused (a foreign Origin header)"
        if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            return "requests from other sites are refused"
        given = request.headers.get(TOKEN_HEADER) or request.query_params.get("token") or ""
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            return "a missing or wrong token: open the address that `survae-compile --serve` printed"
        return None


def create_app(workspace: Workspace, text: str, port: int, token: str) -> ASGIApp:
    """The playground for `workspace`, starting from `text`, served on `port` with `token`."""
    state = {"text": text}
    page = _page(token)

    async def index(request: Request) -> Response:
        return Response(page, media_type="text/html", headers=SECURITY_HEADERS)

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC:
            return _error(404, f"no file {name}")
        body = _page_files().joinpath(name).read_bytes()
        return Response(body, media_type=STATIC[name], headers=SECURITY_HEADERS)

    async def file(request: Request) -> Response:
        from ..lsp.textmate import build

        view = {"name": workspace.display_name, "text": state["text"], "can_save": workspace.can_save}
        return _json({**view, "grammar": build()})

    async def check(request: Request) -> Response:
        body = await _body(request)
        text, collapse, direction = _text(body), _collapse(body), _direction(body)
        view = await run_in_threadpool(workspace.check, text, collapse, direction)
        return _json(view)

    async def save(request: Request) -> Response:
        text = _storable(_text(await _body(request)))
        try:
            path = await run_in_threadpool(workspace.save, text)
        except SaveRefused as exc:
            return _error(403, str(exc))
        except ValueError as exc:  # over the file limit: refused, the file stays as it was
            return _error(413, f"{codes.E501}: {exc}; nothing was saved")
        except OSError as exc:
            return _error(500, f"cannot write {workspace.display_name}: {exc.strerror or exc}")
        state["text"] = text.replace("\r\n", "\n")  # as a reload of the file would give it
        return _json({"saved": path.name})

    async def download(request: Request) -> Response:
        body = await _body(request)
        what = str(body.get("what", ""))
        if what not in DOWNLOADS:
            raise _BadRequest(f"`what` must be one of {', '.join(DOWNLOADS)}")
        from ..compiler.backends.render_dot import RenderError

        try:
            data = await run_in_threadpool(
                workspace.download, _storable(_text(body)), what, _collapse(body), _direction(body)
            )
        except NotCompiled as exc:
            return _json({"error": "the model has errors; fix them to download", "diagnostics": exc.diagnostics}, 422)
        except RenderError as exc:
            return _error(503, str(exc))
        filename, media_type = DOWNLOADS[what]
        headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'}
        return Response(data, media_type=media_type, headers=headers)

    routes = [
        Route("/", index, methods=["GET"]),
        Route("/static/{name}", static, methods=["GET"]),
        Route("/api/file", _handled(file), methods=["POST"]),
        Route("/api/check", _handled(check), methods=["POST"]),
        Route("/api/save", _handled(save), methods=["POST"]),
        Route("/api/download", _handled(download), methods=["POST"]),
    ]
    return Guard(Starlette(routes=routes), port, token)


class _BadRequest(Exception):
    """A request the page would never send (a wrong field): 400 with the reason."""


def _handled(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """`handler` with the request errors answered as JSON (never a traceback or a bare 500)."""

    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except BodyTooLarge:
            limit = f"{MAX_SOURCE_BYTES:,}"
            return _error(413, f"{codes.E501}: the text is larger than the limit of {limit} bytes; split it")
        except _BadRequest as exc:
            return _error(400, str(exc))

    return wrapped


async def _body(request: Request) -> dict[str, Any]:
    """The JSON object of the request, read no further than `MAX_BODY_BYTES`."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BodyTooLarge
        chunks.append(chunk)
    try:
        body = json.loads(b"".join(chunks) or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise _BadRequest("the body is not JSON") from None
    if not isinstance(body, dict):
        raise _BadRequest("the body must be a JSON object")
    return body


def _text(body: dict[str, Any]) -> str:
    """The model text of a request (400 unless a string)."""
    text = body.get("text")
    if not isinstance(text, str):
        raise _BadRequest("`text` must be a string")
    return text


def _storable(text: str) -> str:
    """`text`, if UTF-8 can hold it: a lone surrogate (JSON's `\\ud800`, which a browser's text
    area can hold) cannot be written to a file, so saving and downloading refuse it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        line = text.count("\n", 0, exc.start) + 1
        raise _BadRequest(
            f"line {line} holds a lone surrogate (U+{ord(text[exc.start]):04X}), which a UTF-8 file cannot hold; "
            "delete that character"
        ) from None
    return text


def _collapse(body: dict[str, Any]) -> bool:
    """Whether the diagram draws each repeat and block call as one node (400 unless a boolean)."""
    collapse = body.get("collapse", False)
    if not isinstance(collapse, bool):
        raise _BadRequest("`collapse` must be true or false")
    return collapse


def _direction(body: dict[str, Any]) -> str:
    """The diagram's direction (400 unless one of DIRECTIONS)."""
    direction = body.get("direction", "inference")
    if direction not in DIRECTIONS:
        raise _BadRequest(f"`direction` must be one of {', '.join(DIRECTIONS)}")
    return str(direction)


def _json(data: object, status: int = 200) -> Response:
    """`data` as a JSON reply with the page's security headers."""
    # ASCII JSON: a diagnostic may quote a lone surrogate of the text, which UTF-8 cannot
    # encode but a `\\ud800` escape can.
    body = json.dumps(data, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    return Response(body, status_code=status, media_type="application/json", headers=SECURITY_HEADERS)


def _error(status: int, message: str) -> Response:
    """A refusal or failure as JSON: {"error": message}."""
    return _json({"error": message}, status)


def _page(token: str) -> str:
    """index.html with the token in its files' addresses and in a meta tag for the API calls
    (the token is URL-safe base64: nothing to escape)."""
    template = _page_files().joinpath("index.html").read_text("utf-8")
    return template.replace("{{TOKEN}}", token)


def _page_files() -> Traversable:
    """The folder of the page's files, inside the installed package."""
    return resources.files("survae_dsl.playground").joinpath("page")
