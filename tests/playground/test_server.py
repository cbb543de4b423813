"""The playground's server over HTTP (the real `survae-compile --serve` in a subprocess) and its
`Workspace` directly: who may talk to it, the body limit, errors as data, the one file it may
write, the downloads, the verdict and diagram of the starter model, and the command line.

Each server start costs a Python start-up, so the servers are module-scoped fixtures: one started
without a file (most tests), one with an existing file, one with a file that does not exist yet.
Tests that change a server's state (a save) set all the state they then read, so their order does
not matter.
"""

from __future__ import annotations

import ast
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, cast

import pytest

from survae_dsl.compiler.core import codes
from survae_dsl.compiler.drivers.driver import MAX_SOURCE_BYTES
from survae_dsl.playground import app
from survae_dsl.playground.workspace import Workspace, starter_text

from .server import Served, served

SVG = "{http://www.w3.org/2000/svg}"
RED = "#cc0000"
CLI = [sys.executable, "-m", "survae_dsl.compiler.drivers.cli"]
# The starter model's one line that closes the fold of `abs` (the comment above it names the op too).
SOFTPLUS_LINE = "h = softplus_inv(h)"
# A model the tests save and download: the starter with non-ASCII text and Windows line ends, which a
# save must keep byte for byte.
# Sent with CRLF (a client other than a browser may), saved with the file's own line ending: LF here.
SAVED_TEXT = starter_text().replace("\n", "\r\n").replace("# The playground", "# Été: the playground", 1)
SAVED_BYTES = SAVED_TEXT.replace("\r\n", "\n").encode("utf-8")

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed: no SVG to check")


# ---------------------------------------------------------------------------------------------
# Servers and requests


@contextmanager
def _serving(path: Path | None, cwd: Path) -> Iterator[Served]:
    """`served()` with its output drained on a thread: nobody reads the pipe after the banner, and a
    server that prints tracebacks (a 500) would otherwise block once the pipe buffer is full."""
    with served(path, cwd=cwd) as server:
        thread = threading.Thread(target=_drain, args=(server.process.stdout,), daemon=True)
        thread.start()
        yield server


def _drain(stream: IO[str] | None) -> None:
    if stream is None:
        return
    try:
        for _line in stream:
            pass
    except (ValueError, OSError):  # closed by served() as the server stops
        return


@pytest.fixture(scope="module")
def scratch_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The working folder of the server started without a file (which must stay empty)."""
    return tmp_path_factory.mktemp("scratch")


@pytest.fixture(scope="module")
def scratch(scratch_dir: Path) -> Iterator[Served]:
    """`survae-compile --serve` without a file, run in an empty folder."""
    with _serving(None, scratch_dir) as server:
        yield server


@pytest.fixture(scope="module")
def filed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, Path, dict[str, Any]]]:
    """A server started with an existing file alone in its folder; with the file and its first /api/file."""
    folder = tmp_path_factory.mktemp("filed")
    path = folder / "model.survae"
    path.write_bytes(b"# the file as it was on disk\n" + starter_text().encode("utf-8"))
    with _serving(path, folder) as server:
        status, first = _api(server, "/api/file", {})
        assert status == 200
        yield server, path, first


def _api(server: Served, path: str, body: object, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    """`Served.api` with the reply typed for indexing."""
    status, reply = server.api(path, body, headers)
    return status, cast("dict[str, Any]", reply)


def _raw(
    port: int, method: str, target: str, headers: dict[str, str] | None = None, body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request with exactly these headers (http.client adds Host only when it is not given):
    (status, headers with lower-case names, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, target, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def _error_of(body: bytes) -> str:
    """The message of a JSON error reply (`{"error": ...}`)."""
    reply = json.loads(body)
    assert isinstance(reply, dict) and isinstance(reply.get("error"), str), body[:200]
    return cast("str", reply["error"])


def _lower(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def _other_port(port: int) -> int:
    return port + 1 if port < 65535 else port - 1


def _token_headers(server: Served) -> dict[str, str]:
    return {"X-Survae-Token": server.token, "Content-Type": "application/json"}


# ---------------------------------------------------------------------------------------------
# 1. Who may talk to the server


def test_page_without_token_is_refused(scratch: Served) -> None:
    status, headers, body = _raw(scratch.port, "GET", "/")
    assert status == 403
    assert headers["content-type"].startswith("application/json")
    assert "token" in _error_of(body)


def test_page_with_a_wrong_token_is_refused(scratch: Served) -> None:
    wrong = scratch.token[:-1] + ("A" if scratch.token[-1] != "A" else "B")
    status, _, body = _raw(scratch.port, "GET", f"/?token={wrong}")
    assert status == 403
    assert "token" in _error_of(body)


def test_page_with_the_token_is_html_with_a_content_security_policy(scratch: Served) -> None:
    status, headers, body = _raw(scratch.port, "GET", f"/?token={scratch.token}")
    assert status == 200
    assert headers["content-type"].startswith("text/html")
    policy = headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert b"<html" in body.lower()


@pytest.mark.parametrize("host", ["evil.example:{port}", "127.0.0.1:{other}", "127.0.0.1", "evil.example"])
def test_a_foreign_host_is_refused_even_with_the_token(scratch: Served, host: str) -> None:
    """DNS rebinding: a hostile name resolved to 127.0.0.1 arrives with its own Host header."""
    headers = {"Host": host.format(port=scratch.port, other=_other_port(scratch.port))}
    status, _, body = _raw(scratch.port, "GET", f"/?token={scratch.token}", headers)
    assert status == 403
    assert "Host" in _error_of(body)
    api = {**headers, **_token_headers(scratch)}
    status, _, body = _raw(scratch.port, "POST", "/api/file", api, b"{}")
    assert status == 403


def test_localhost_host_is_accepted(scratch: Served) -> None:
    headers = {"Host": f"localhost:{scratch.port}"}
    status, _, _ = _raw(scratch.port, "GET", f"/?token={scratch.token}", headers)
    assert status == 200
    status, _, body = _raw(scratch.port, "POST", "/api/file", {**headers, **_token_headers(scratch)}, b"{}")
    assert status == 200
    assert json.loads(body)["text"] == starter_text()


@pytest.mark.parametrize(
    "origin", ["http://evil.example", "http://127.0.0.1:{other}", "null", "https://127.0.0.1:{port}"]
)
def test_a_foreign_origin_is_refused(scratch: Served, origin: str) -> None:
    headers = {**_token_headers(scratch), "Origin": origin.format(port=scratch.port, other=_other_port(scratch.port))}
    status, _, body = _raw(scratch.port, "POST", "/api/check", headers, json.dumps({"text": "x"}).encode())
    assert status == 403
    assert "other sites" in _error_of(body)


@pytest.mark.parametrize("origin", ["http://127.0.0.1:{port}", "http://localhost:{port}"])
def test_the_servers_own_origin_is_accepted(scratch: Served, origin: str) -> None:
    headers = {**_token_headers(scratch), "Origin": origin.format(port=scratch.port)}
    status, _, _ = _raw(scratch.port, "POST", "/api/file", headers, b"{}")
    assert status == 200


@pytest.mark.parametrize(("site", "expected"), [("cross-site", 403), ("same-site", 403), ("same-origin", 200)])
def test_sec_fetch_site_other_than_same_origin_is_refused(scratch: Served, site: str, expected: int) -> None:
    headers = {**_token_headers(scratch), "Sec-Fetch-Site": site}
    status, _, body = _raw(scratch.port, "POST", "/api/file", headers, b"{}")
    assert status == expected
    if expected == 403:
        assert "other sites" in _error_of(body)


@pytest.mark.parametrize("token", [None, "", "not-the-token"])
def test_an_api_call_without_the_header_token_is_refused(scratch: Served, token: str | None) -> None:
    headers = {"Content-Type": "application/json"} | ({} if token is None else {"X-Survae-Token": token})
    status, data, _ = scratch.post("/api/check", json.dumps({"text": starter_text()}).encode(), headers)
    assert status == 403
    assert "token" in _error_of(data)


def test_static_files_need_the_token(scratch: Served) -> None:
    assert _raw(scratch.port, "GET", "/static/playground.js")[0] == 403
    status, headers, _ = _raw(scratch.port, "GET", f"/static/playground.js?token={scratch.token}")
    assert status == 200
    assert headers["content-type"].startswith("text/javascript")
    assert _raw(scratch.port, "GET", f"/static/app.py?token={scratch.token}")[0] == 404


def _non_loopback_ipv4() -> str | None:
    """An IPv4 address of this machine other than loopback (no packet is sent: a UDP connect only
    picks the outgoing interface), or None when there is none."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.255.255.255", 1))
        address = cast("str", probe.getsockname()[0])
    except OSError:
        return None
    finally:
        probe.close()
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def test_the_server_listens_on_loopback_only(scratch: Served) -> None:
    address = _non_loopback_ipv4()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address to try the server's port on")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((address, scratch.port), timeout=10).close()


# ---------------------------------------------------------------------------------------------
# 2. The body limit


def _send_raw(port: int, head: str, chunks: list[bytes]) -> tuple[int, bytes]:
    """Send a request head and `chunks` over a plain socket, then read the reply: (status, body).

    Nothing is sent after the reply is due: a server that answers before reading a body and then
    closes with unread bytes resets the connection, and the client may lose the reply (urllib, which
    sends a whole over-limit body first, sometimes sees a broken pipe instead of the 413).
    """
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(head.encode("latin-1"))
        for chunk in chunks:
            sock.sendall(chunk)
        # Read the reply by its own framing: the server may keep the connection open a while.
        response = http.client.HTTPResponse(sock, method="POST")
        response.begin()
        return response.status, response.read()


def _head(server: Served, framing: str) -> str:
    return (
        f"POST /api/check HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nX-Survae-Token: {server.token}\r\n"
        f"Content-Type: application/json\r\n{framing}\r\n\r\n"
    )


def test_a_declared_body_over_the_limit_is_413_and_the_server_goes_on(scratch: Served) -> None:
    """Refused from its Content-Length alone, before any of it is read."""
    status, body = _send_raw(scratch.port, _head(scratch, f"Content-Length: {app.MAX_BODY_BYTES + 1}"), [])
    assert status == 413
    assert codes.E501 in _error_of(body)
    assert _api(scratch, "/api/file", {})[0] == 200


def test_a_chunked_body_over_the_limit_is_413(scratch: Served) -> None:
    """Without a Content-Length the server counts what it reads, and stops past the limit."""
    part = b" " * 65536
    sizes = [len(part)] * (app.MAX_BODY_BYTES // len(part)) + [app.MAX_BODY_BYTES % len(part) + 1]
    assert sum(sizes) == app.MAX_BODY_BYTES + 1
    chunks = [b"%x\r\n" % size + part[:size] + b"\r\n" for size in sizes]  # no final 0-chunk: never finished
    status, body = _send_raw(scratch.port, _head(scratch, "Transfer-Encoding: chunked"), chunks)
    assert status == 413
    assert codes.E501 in _error_of(body)
    assert _api(scratch, "/api/file", {})[0] == 200


def test_a_text_over_the_file_limit_is_an_e501_diagnostic(scratch: Served) -> None:
    text = "#" * (MAX_SOURCE_BYTES + 1)
    assert len(json.dumps({"text": text})) < app.MAX_BODY_BYTES
    status, view = _api(scratch, "/api/check", {"text": text})
    assert status == 200
    assert view["ok"] is False
    assert [d["code"] for d in view["diagnostics"]] == [codes.E501]


# ---------------------------------------------------------------------------------------------
# 3. Errors are data; bad requests are 400


def _starter_with(old: str, new: str) -> tuple[str, int]:
    """The starter with `old` replaced by `new` once, and the line of the change."""
    text = starter_text()
    assert text.count(old) == 1
    return text.replace(old, new), text[: text.index(old)].count("\n") + 1


@pytest.mark.parametrize(
    ("old", "new", "code"),
    [("h = abs(x)", "h = = abs(x)", codes.E102), ("h = abs(x)", "h = abz(x)", codes.E201)],
    ids=["syntax", "unknown-op"],
)
def test_a_bad_model_is_200_with_its_diagnostic(scratch: Served, old: str, new: str, code: str) -> None:
    text, line = _starter_with(old, new)
    status, view = _api(scratch, "/api/check", {"text": text})
    assert status == 200
    assert view["ok"] is False
    first = view["diagnostics"][0]
    assert first["code"] == code
    assert first["severity"] == "error"
    assert first["position"]["line"] == line
    assert first["message"]
    assert first["explain"].startswith(code)


@pytest.mark.parametrize(
    ("endpoint", "body", "reason"),
    [
        ("/api/check", b"not json", "JSON"),
        ("/api/check", b'{"text": "\xff"}', "JSON"),
        ("/api/check", b'["text"]', "object"),
        ("/api/check", b'{"text": 3}', "text"),
        ("/api/check", b'{"text": null}', "text"),
        ("/api/check", b"{}", "text"),
        ("/api/check", b'{"text": "", "direction": "sideways"}', "direction"),
        ("/api/check", b'{"text": "", "direction": ["inference"]}', "direction"),
        ("/api/download", b'{"text": "", "what": "model.exe"}', "what"),
        ("/api/download", b'{"text": "", "what": ["svg"]}', "what"),
        ("/api/download", b'{"text": "", "what": "svg", "direction": "up"}', "direction"),
        ("/api/save", b'{"text": ["a"]}', "text"),
        ("/api/check", b'{"text": "", "collapse": "false"}', "collapse"),
        ("/api/download", b'{"text": "", "what": "svg", "collapse": 1}', "collapse"),
    ],
)
def test_a_bad_request_is_400_json(scratch: Served, endpoint: str, body: bytes, reason: str) -> None:
    status, data, headers = scratch.post(endpoint, body, _token_headers(scratch))
    assert status == 400
    assert _lower(headers)["content-type"].startswith("application/json")
    assert reason in _error_of(data)


@pytest.mark.parametrize("endpoint", ["/api/check", "/api/download", "/api/save"])
def test_a_lone_surrogate_is_never_a_500(filed: tuple[Served, Path, dict[str, Any]], endpoint: str) -> None:
    """A browser's JSON.stringify escapes a lone surrogate of a textarea as `\\ud800`: valid JSON.
    The check reports it as data; saving and downloading refuse it, naming its line."""
    server, path, _ = filed
    before = path.read_bytes()
    body = b'{"text": "model M {}\\n\\ud800", "what": "model.py"}'
    status, data, headers = server.post(endpoint, body, _token_headers(server))
    assert path.read_bytes() == before
    assert _lower(headers)["content-type"].startswith("application/json")
    reply = json.loads(data)
    if endpoint == "/api/check":
        assert status == 200
        assert reply["ok"] is False
    else:
        assert status == 400
        assert "line 2 holds a lone surrogate (U+D800)" in reply["error"]


# ---------------------------------------------------------------------------------------------
# 4. Save


def test_a_file_server_starts_from_the_file(filed: tuple[Served, Path, dict[str, Any]]) -> None:
    server, path, first = filed
    assert first["name"] == path.name
    assert first["can_save"] is True
    assert first["text"].startswith("# the file as it was on disk\n")
    assert str(path) in server.banner
    assert "nothing is saved" not in server.banner


def test_save_writes_exactly_the_text_and_nothing_else(filed: tuple[Served, Path, dict[str, Any]]) -> None:
    server, path, _ = filed
    other = path.parent / "elsewhere.survae"
    status, reply = _api(server, "/api/save", {"text": SAVED_TEXT, "path": str(other), "name": "elsewhere.survae"})
    assert status == 200
    assert reply == {"saved": path.name}
    assert path.read_bytes() == SAVED_BYTES
    # Atomic: the temporary file was renamed over the file; the extra fields were ignored.
    assert sorted(os.listdir(path.parent)) == [path.name]
    status, view = _api(server, "/api/file", {})
    assert status == 200
    assert view["text"] == SAVED_TEXT.replace("\r\n", "\n")


def test_a_cross_site_save_writes_nothing(filed: tuple[Served, Path, dict[str, Any]]) -> None:
    server, path, _ = filed
    before = path.read_bytes()
    status, _, _ = server.post("/api/save", json.dumps({"text": "model Evil {}"}).encode(), {})
    assert status == 403
    status, _, _ = server.post(
        "/api/save",
        json.dumps({"text": "model Evil {}"}).encode(),
        {**_token_headers(server), "Origin": "http://evil.example"},
    )
    assert status == 403
    assert path.read_bytes() == before


def test_saving_a_text_over_the_file_limit_is_refused_with_e501(filed: tuple[Served, Path, dict[str, Any]]) -> None:
    server, path, _ = filed
    before = path.read_bytes()
    body = json.dumps({"text": "#" * (MAX_SOURCE_BYTES + 1)}).encode()
    status, data, _ = server.post("/api/save", body, _token_headers(server))
    assert path.read_bytes() == before
    assert status == 413
    assert codes.E501 in _error_of(data)
    assert "nothing was saved" in _error_of(data)


def test_save_without_a_file_is_403_and_writes_nothing(scratch: Served, scratch_dir: Path) -> None:
    status, view = _api(scratch, "/api/file", {})
    assert status == 200
    assert view["can_save"] is False
    status, reply = _api(scratch, "/api/save", {"text": starter_text(), "path": str(scratch_dir / "x.survae")})
    assert status == 403
    assert "without a file" in reply["error"]
    assert list(scratch_dir.iterdir()) == []


def test_a_new_file_starts_from_the_starter_and_save_creates_it(tmp_path: Path) -> None:
    path = tmp_path / "new.survae"
    with _serving(path, tmp_path) as server:
        status, view = _api(server, "/api/file", {})
        assert status == 200
        assert view["text"] == starter_text()
        assert view["can_save"] is True
        assert not path.exists()  # opening writes nothing
        status, _ = _api(server, "/api/save", {"text": SAVED_TEXT})
        assert status == 200
    assert path.read_bytes() == SAVED_BYTES
    assert sorted(os.listdir(tmp_path)) == [path.name]


def test_a_file_in_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "no_such_folder" / "model.survae"
    result = subprocess.run(
        [*CLI, str(path), "--serve", "--port", "0"], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert result.returncode == 1
    assert "does not exist" in result.stderr
    assert str(path.parent) in result.stderr
    assert not path.parent.exists()


# ---------------------------------------------------------------------------------------------
# 5. Downloads


def _download(server: Served, what: str, text: str, **extra: object) -> tuple[int, bytes, dict[str, str]]:
    body = json.dumps({"text": text, "what": what, **extra}).encode()
    status, data, headers = server.post("/api/download", body, _token_headers(server))
    return status, data, _lower(headers)


@pytest.mark.parametrize(("what", "filename"), [("model.py", "model.py"), ("standalone", "model_standalone.py")])
def test_python_downloads_compile_and_define_the_model(scratch: Served, what: str, filename: str) -> None:
    status, data, headers = _download(scratch, what, starter_text())
    assert status == 200
    assert headers["content-disposition"] == f'attachment; filename="{filename}"'
    code = data.decode("utf-8")
    compile(code, filename, "exec")
    assert "class Playground" in code
    assert ("survae_dsl" in _imported(code)) is (what == "model.py")


def _imported(code: str) -> set[str]:
    """The top-level packages that `code` imports (read from its syntax tree, not its comments)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@needs_dot
def test_svg_download(scratch: Served) -> None:
    status, data, headers = _download(scratch, "svg", starter_text(), direction="generative", collapse=True)
    assert status == 200
    assert headers["content-disposition"] == 'attachment; filename="model.svg"'
    assert headers["content-type"].startswith("image/svg+xml")
    assert data.startswith(b"<?xml") or b"<svg" in data
    assert b"(sampling direction)" in data


@pytest.mark.parametrize("what", ["model.py", "standalone", "svg"])
def test_a_download_of_a_bad_model_is_422_with_its_diagnostics(scratch: Served, what: str) -> None:
    text, line = _starter_with("h = abs(x)", "h = abz(x)")
    status, data, _ = _download(scratch, what, text)
    assert status == 422
    reply = json.loads(data)
    assert [(d["code"], d["position"]["line"]) for d in reply["diagnostics"]] == [(codes.E201, line)]


# ---------------------------------------------------------------------------------------------
# 6. The verdict and the diagram, through Workspace directly


def _without_softplus() -> tuple[str, int]:
    """The starter without its `softplus_inv` statement, and the line of its first coupling."""
    lines = starter_text().splitlines(keepends=True)
    kept = [line for line in lines if line.strip().split("#")[0].strip() != SOFTPLUS_LINE]
    assert len(kept) == len(lines) - 1
    coupling = next(n for n, line in enumerate(kept, 1) if "affine_coupling(" in line)
    return "".join(kept), coupling


def _svg_nodes(svg: str) -> list[tuple[set[str], ET.Element]]:
    """The diagram's source-tagged nodes: (their classes, the <g>)."""
    root = ET.fromstring(svg.encode("utf-8"))
    found = []
    for group in root.iter(f"{SVG}g"):
        classes = set(group.get("class", "").split())
        if "sv-node" in classes:
            found.append((classes, group))
    return found


def _is_red(group: ET.Element) -> bool:
    """The node's shape (the first drawn element that is not its title or text) has the bound colour."""
    shapes = [child for child in group if child.tag not in (f"{SVG}title", f"{SVG}text")]
    return bool(shapes) and shapes[0].get("stroke") == RED


def _repeat_body_lines(text: str) -> list[int]:
    """The lines inside the starter's one `repeat { ... }`."""
    lines = text.splitlines()
    start = next(n for n, line in enumerate(lines, 1) if line.strip().startswith("repeat"))
    end = next(n for n, line in enumerate(lines, 1) if n > start and line.strip() == "}")
    return list(range(start + 1, end))


@pytest.fixture
def workspace() -> Workspace:
    return Workspace.open(None)[0]


def test_the_starter_is_exact(workspace: Workspace) -> None:
    view = workspace.check(starter_text())
    assert view["ok"] is True
    assert view["diagnostics"] == []
    [model] = view["models"]
    assert model["likelihood"] == "exact"
    assert model["reasons"] == []


def test_without_softplus_the_first_coupling_leaks(workspace: Workspace) -> None:
    text, coupling = _without_softplus()
    view = workspace.check(text)
    assert view["ok"] is True  # a lower bound is a finding, not an error
    [model] = view["models"]
    assert model["likelihood"] == "lower_bound"
    assert [r["line"] for r in model["reasons"]] == [coupling]


@needs_dot
def test_the_leaking_node_is_red_and_nothing_is_red_when_exact(workspace: Workspace) -> None:
    exact = _svg_nodes(workspace.check(starter_text())["svg"])
    assert exact and not any(_is_red(group) for _, group in exact)
    text, coupling = _without_softplus()
    nodes = _svg_nodes(workspace.check(text)["svg"])
    at_coupling = [group for classes, group in nodes if f"sv-at-{coupling}" in classes]
    assert at_coupling and all(_is_red(group) for group in at_coupling)
    red = [classes for classes, group in nodes if _is_red(group)]
    assert red and all(f"sv-at-{coupling}" in classes for classes in red)


@needs_dot
def test_generative_direction_is_named_in_the_svg(workspace: Workspace) -> None:
    assert "(sampling direction)" in workspace.check(starter_text(), direction="generative")["svg"]
    assert "(sampling direction)" not in workspace.check(starter_text())["svg"]


@needs_dot
def test_collapse_draws_the_repeat_as_one_node_naming_its_lines(workspace: Workspace) -> None:
    body = {f"sv-line-{n}" for n in _repeat_body_lines(starter_text())}
    assert len(body) == 2
    collapsed = _svg_nodes(workspace.check(starter_text(), collapse=True)["svg"])
    assert [classes for classes, _ in collapsed if body <= classes]
    expanded = _svg_nodes(workspace.check(starter_text())["svg"])
    assert not [classes for classes, _ in expanded if body <= classes]


@needs_dot
def test_the_repeat_line_names_every_node_of_the_repeat(workspace: Workspace) -> None:
    """The `repeat` statement's line selects what it repeats: the collapsed group is at that
    line, and each node drawn inside the repeat names it too."""
    text = starter_text()
    repeat = _repeat_body_lines(text)[0] - 1
    body = {f"sv-line-{n}" for n in _repeat_body_lines(text)}
    collapsed = _svg_nodes(workspace.check(text, collapse=True)["svg"])
    [group] = [classes for classes, _ in collapsed if body <= classes]
    assert f"sv-line-{repeat}" in group
    assert f"sv-at-{repeat}" in group
    expanded = _svg_nodes(workspace.check(text)["svg"])
    inside = [classes for classes, _ in expanded if classes & body]
    assert len(inside) == 6  # 3 passes of a coupling and a reversal
    assert all(f"sv-line-{repeat}" in classes for classes in inside)
    assert not any(f"sv-line-{repeat}" in classes for classes, _ in expanded if not classes & body)


# ---------------------------------------------------------------------------------------------
# 7. The command line


def test_port_without_serve_is_a_usage_error(cli: Callable[..., Any]) -> None:
    result = cli("model.survae", "--port", "8000")
    assert result.status == 2
    assert "--serve" in result.err
    result = cli("model.survae", "--open")
    assert result.status == 2
    assert "--serve" in result.err


@pytest.mark.parametrize("port", ["70000", "-1"])
def test_a_port_out_of_range_is_a_usage_error(cli: Callable[..., Any], port: str) -> None:
    result = cli("--serve", "--port", port)
    assert result.status == 2
    assert "--port" in result.err and "65535" in result.err


def test_a_busy_port_is_an_error_suggesting_port_0(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = subprocess.run(
            [*CLI, "--serve", "--port", str(port)], capture_output=True, text=True, timeout=120, cwd=tmp_path
        )
    assert result.returncode == 1
    assert "in use" in result.stderr
    assert "--port 0" in result.stderr
    assert str(port) in result.stderr


@pytest.mark.parametrize("action", [["--check"], ["-o", "out.py"], ["--render", "m.svg"], ["--format"]])
def test_serve_with_another_action_is_a_usage_error(cli: Callable[..., Any], action: list[str]) -> None:
    result = cli("model.survae", "--serve", *action)
    assert result.status == 2
    assert "--serve starts the playground and does nothing else" in result.err


def test_the_banner_names_the_loopback_address_and_says_nothing_is_saved(scratch: Served) -> None:
    assert f"http://127.0.0.1:{scratch.port}/?token={scratch.token}" in scratch.banner
    assert "nothing is saved" in scratch.banner


# ---------------------------------------------------------------------------------------------
# 8. The file as it is kept: line endings and links


def test_a_crlf_file_is_edited_with_lf_and_saved_with_crlf(tmp_path: Path) -> None:
    path = tmp_path / "windows.survae"
    path.write_bytes(starter_text().replace("\n", "\r\n").encode("utf-8"))
    workspace, text = Workspace.open(path)
    assert "\r" not in text
    workspace.save(text + "# edited\n")
    saved = path.read_bytes()
    assert saved.endswith(b"# edited\r\n")
    assert b"\n" not in saved.replace(b"\r\n", b"")


def test_saving_through_a_symbolic_link_keeps_the_link(tmp_path: Path) -> None:
    target = tmp_path / "real.survae"
    target.write_text(starter_text(), encoding="utf-8")
    link = tmp_path / "link.survae"
    link.symlink_to(target)
    workspace, text = Workspace.open(link)
    assert workspace.display_name == "link.survae"
    workspace.save(text + "# edited\n")
    assert link.is_symlink()
    assert target.read_text(encoding="utf-8").endswith("# edited\n")
