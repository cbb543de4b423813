"""The exceptions `fit` raises for the command line to turn into an exit status."""

from __future__ import annotations

from pathlib import Path


class TrainError(Exception):
    """A problem the user can fix (model, data, files, a diverged run): one line, exit 1."""


class Stopped(Exception):
    """Training stopped on SIGINT/SIGTERM at a step boundary, its checkpoint written (exit 128 + signum)."""

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(message)
        self.signum = signum


class Interrupted(KeyboardInterrupt):
    """A KeyboardInterrupt (a second Ctrl-C, or one outside the training loop) once the run's
    checkpoint path is known; it carries the path so that the message can say what was kept.
    Being a KeyboardInterrupt, it stops a Python caller of `fit` the way Ctrl-C always does."""

    def __init__(self, checkpoint: Path) -> None:
        super().__init__()
        self.checkpoint = checkpoint
