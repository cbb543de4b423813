"""Every shipped model small enough is integrated numerically with perturbed parameters
(an exact claim is tested by integrating it): tests/good/*.survae and examples/**/*.survae, each model of each file
one test id. Models over 4 continuous dimensions (or too many discrete cells) and files that
do not compile are listed as skipped, with the reason; a floor on the number covered keeps
the coverage from dropping silently.
"""

from __future__ import annotations

import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest

import survae_dsl

from .models import ModelInfo, failures, integrate_class, model_info, size_of

pytestmark = pytest.mark.slow  # integrates each model numerically: about 35 s

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted((ROOT / "tests" / "good").glob("*.survae")) + sorted((ROOT / "examples").rglob("*.survae"))
# The user-transform example imports its layer module from its own folder.
USER_LAYERS = ROOT / "examples" / "user_transform"
MIN_COVERED = 19  # models integrated today; raise it when a model joins, never lower it silently
ENUMERATION_DRAWS_LIMIT = 10_000  # above this many discrete cells, 2 draws of a random log_prob


@dataclass
class Entry:
    """One model of one file: covered (cls set), skipped (reason) or broken (error)."""

    file: str
    model: str
    cls: type | None = None
    info: ModelInfo | None = None
    skip: str | None = None
    error: str | None = None

    @property
    def id(self) -> str:
        return f"{self.file}::{self.model}"


def _collect() -> list[Entry]:
    if str(USER_LAYERS) not in sys.path:
        sys.path.insert(0, str(USER_LAYERS))
    entries = []
    for path in FILES:
        rel = path.relative_to(ROOT).as_posix()
        text = path.read_text(encoding="utf-8")
        try:
            classes = survae_dsl.compile_source(text, filename=path.name)
            infos = model_info(text, path.name)
        except survae_dsl.CompileError as exc:
            entries.append(Entry(rel, "*", skip=f"does not compile: {str(exc).splitlines()[0]}"))
            continue
        except Exception:  # an internal error of the compiler is a failure, not a skip
            entries.append(Entry(rel, "*", error=traceback.format_exc()))
            continue
        for name, cls in classes.items():
            why = size_of(cls).too_large()
            entries.append(Entry(rel, name, cls, infos[name], skip=why and f"too large: {why}"))
    return entries


ENTRIES = _collect()
COVERED = [e for e in ENTRIES if e.cls is not None and e.skip is None]
SKIPPED = [e for e in ENTRIES if e.skip is not None]

# At collection time: a model that stops being integrated (a compile failure, a growth past
# 4 dimensions) makes this module fail to collect instead of disappearing from the run.
_LEFT_OUT = ", ".join(f"{e.id} ({e.skip or e.error})" for e in ENTRIES if e not in COVERED)
assert len(COVERED) >= MIN_COVERED, f"only {len(COVERED)} shipped models integrated (floor {MIN_COVERED}): {_LEFT_OUT}"


def test_coverage_is_reported():
    lines = [f"covered {len(COVERED)}, skipped {len(SKIPPED)}"]
    lines += [f"  covered  {e.id}" for e in COVERED]
    lines += [f"  skipped  {e.id}: {e.skip}" for e in SKIPPED]
    print("\n".join(lines))
    assert len(COVERED) >= MIN_COVERED


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_shipped_model_keeps_its_promise(entry: Entry):
    if entry.error is not None:
        pytest.fail(f"{entry.file}: internal compiler error\n{entry.error}")
    if entry.skip is not None:
        pytest.skip(f"{entry.id}: {entry.skip}")
    assert entry.cls is not None and entry.info is not None
    draws = 2 if size_of(entry.cls).cells > ENUMERATION_DRAWS_LIMIT else 4
    seeds = (0, 1, 2) if entry.info.contexts else (0, 1)  # a conditional model: a context per seed
    checks = integrate_class(entry.cls, entry.info.contexts, seeds=seeds, draws=draws, waste=entry.info.waste)
    print("\n".join(str(c) for c in checks))
    wrong = failures(checks)
    assert not wrong, f"{entry.id} claims {entry.cls.likelihood!r}:\n" + "\n".join(str(c) for c in wrong)
