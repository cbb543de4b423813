"""Starting the playground's server: the socket, the token, the address printed."""

from __future__ import annotations

import errno
import os
import secrets
import socket
import sys
from pathlib import Path
from typing import TextIO

from .workspace import Workspace

DEFAULT_PORT = 7301
INSTALL_HINT = "the playground needs the serve extra: pip install 'survae-dsl[serve]'"


class ServeError(Exception):
    """The playground cannot start (a missing extra, a busy port, an unreadable file)."""


def serve(path: Path | None, port: int | None = None, open_browser: bool = False, out: TextIO = sys.stdout) -> int:
    """Serve the playground for `path` (None: the starter model, never saved) until Ctrl+C.

    `port` None takes `DEFAULT_PORT`, or any free port when that one is busy; a port given
    explicitly must be free (0: any free port). Prints the address, with its token, to `out`.
    """
    try:
        import uvicorn

        from .app import create_app
    except ImportError as exc:
        missing = (exc.name or "a module").split(".")[0]
        raise ServeError(f"{INSTALL_HINT} ({missing} is missing)") from None
    if path is not None and not path.parent.is_dir():
        raise ServeError(f"cannot serve {path}: the folder {path.parent} does not exist")
    try:
        workspace, text = Workspace.open(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ServeError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    sock = _listen(port)
    chosen = sock.getsockname()[1]
    token = secrets.token_urlsafe(24)
    url = f"http://127.0.0.1:{chosen}/?token={token}"
    subject = str(path) if path is not None else "the starter model (started without a file: nothing is saved)"
    if port is None and chosen != DEFAULT_PORT:
        print(f"port {DEFAULT_PORT} is busy; using {chosen}", file=out)
    print(f"survae playground for {subject}", file=out)
    print(f"  {url}", file=out)
    print("  (only this machine can connect; press Ctrl+C to stop)", file=out, flush=True)
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    config = uvicorn.Config(create_app(workspace, text, chosen, token), log_level="warning", lifespan="off")
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
    return 0


def _listen(port: int | None) -> socket.socket:
    """A socket bound to 127.0.0.1 (loopback only, never all interfaces) on the chosen port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if os.name == "posix":  # restart at once after a stop; on Windows it would share a busy port
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", DEFAULT_PORT if port is None else port))
    except OSError as exc:
        if port is not None or exc.errno != errno.EADDRINUSE:
            sock.close()
            reason = "it is in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
            raise ServeError(f"cannot listen on 127.0.0.1:{port}: {reason}; try --port 0 for any free port") from None
        sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    sock.setblocking(False)
    return sock
