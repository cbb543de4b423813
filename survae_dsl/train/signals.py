"""Stop requests: Ctrl-C (SIGINT) and SIGTERM during training ask it to stop at a step boundary."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


@dataclass
class StopRequest:
    """The signal (SIGINT, SIGTERM) that asked training to stop, if any."""

    signum: int | None = None


@contextmanager
def stop_requests(second_stops_at_once: bool = True, restore: bool = True) -> Iterator[StopRequest]:
    """While training, SIGINT and SIGTERM ask it to stop at the next step boundary (a second one
    raises KeyboardInterrupt at once, if ``second_stops_at_once``). A signal ignored by whoever
    started the process (SIGINT for ``cmd &`` in a shell script) stays ignored; off the main
    thread the handlers are left alone.

    Under torchrun ``second_stops_at_once`` is False: a Ctrl-C reaches each worker twice (from the
    terminal, then forwarded by torchrun), and the processes must stop at the same step so that
    rank 0 can write the checkpoint; torchrun kills workers that do not stop in its own time.
    ``restore`` False (under torchrun too) leaves the handlers in place when the block ends: when
    another process dies, torchrun sends SIGTERM to the others while they leave the process group
    and say why, and that signal must not kill them before they have said it."""
    request = StopRequest()

    def handler(signum: int, _frame: Any) -> None:
        if request.signum is not None:
            if second_stops_at_once:
                raise KeyboardInterrupt
            return
        request.signum = signum
        again = " (Ctrl-C again to stop at once)" if second_stops_at_once else ""
        note = f"\nsurvae-train: {signal_name(signum)}: stopping after this step{again}\n"
        try:  # os.write, not print: a handler may run in the middle of a print to stderr
            os.write(2, note.encode())
        except OSError:
            pass

    previous: dict[signal.Signals, Any] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            current = signal.getsignal(signum)
            if current is signal.SIG_IGN:
                continue
            signal.signal(signum, handler)
        except ValueError:  # not the main thread
            continue
        previous[signum] = current
    try:
        yield request
    finally:
        for signum, current in previous.items() if restore else ():
            signal.signal(signum, current if current is not None else signal.SIG_DFL)


def signal_name(signum: int) -> str:
    """``Ctrl-C`` for SIGINT, else the signal's name."""
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
