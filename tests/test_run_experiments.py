"""examples/paper/run_experiments.py: `--only` rewrites its experiments' sections of RESULTS.md
and keeps the others (and the benchmark section) as they were."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("run_experiments", ROOT / "examples" / "paper" / "run_experiments.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RESULTS = """# Results

Header line.

## 1. First experiment

| a | b |
|---|---|
| 1 | 2 |

## 2. Second experiment

text two

## 4. Benchmarks (`make bench`)

bench
"""


def test_old_section_is_the_text_up_to_the_next_heading() -> None:
    old_section = _script().old_section
    assert old_section(RESULTS, "## 1. First experiment") == [
        "",
        "## 1. First experiment",
        "",
        "| a | b |",
        "|---|---|",
        "| 1 | 2 |",
    ]
    assert old_section(RESULTS, "## 2. Second experiment") == ["", "## 2. Second experiment", "", "text two"]


def test_old_section_of_a_missing_heading_is_empty() -> None:
    assert _script().old_section(RESULTS, "## 3. Third experiment") == []


def test_the_last_section_runs_to_the_end() -> None:
    text = "# R\n\n## 1. Only\n\nbody\n"
    assert _script().old_section(text, "## 1. Only") == ["", "## 1. Only", "", "body"]
