"""Running the real `survae-compile --serve` in a subprocess for the playground tests (and for
`make screenshot`): the address it prints is parsed, and the server is stopped with Ctrl+C."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ADDRESS = re.compile(r"http://127\.0\.0\.1:(\d+)/\?token=([A-Za-z0-9_-]+)")


@dataclass(frozen=True)
class Served:
    """A running playground: its page's address (with the token), port, token and output so far."""

    url: str
    port: int
    token: str
    process: subprocess.Popen[str]
    banner: str

    def api(self, path: str, body: object, headers: dict[str, str] | None = None) -> tuple[int, dict[str, object]]:
        """POST `body` as JSON to `path` with the token; (status, JSON reply)."""
        status, data, _ = self.post(path, json.dumps(body).encode(), {"X-Survae-Token": self.token, **(headers or {})})
        return status, json.loads(data)

    def post(self, path: str, data: bytes, headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
        """A raw POST: (status, body, headers), errors included."""
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method="POST")
        for key, value in headers.items():
            request.add_header(key, value)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), dict(exc.headers)


@contextmanager
def served(path: Path | None, *args: str, cwd: Path | None = None) -> Iterator[Served]:
    """`survae-compile [path] --serve --port 0 [args]` until the block ends."""
    command = [sys.executable, "-m", "survae_dsl.compiler.drivers.cli"]
    command += [str(path)] if path is not None else []
    command += ["--serve", "--port", "0", *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=cwd, bufsize=1)
    try:
        assert process.stdout is not None
        banner = ""
        deadline = time.monotonic() + 60
        while (found := ADDRESS.search(banner)) is None:
            line = process.stdout.readline()
            if not line or time.monotonic() > deadline:
                raise AssertionError(f"the playground did not start:\n{banner}{process.stdout.read()}")
            banner += line
        banner += process.stdout.readline()  # "(only this machine can connect ...)"
        yield Served(found.group(0), int(found.group(1)), found.group(2), process, banner)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()
