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


def _run(model: str, seed: int, one_sample: float, iw: float | None) -> dict:
    test: dict = {"bits_per_dim": one_sample, "log_prob_nats": -one_sample * 64 * 0.6931}
    if iw is not None:
        test["iw"] = {"bits_per_dim": iw}
    likelihood = "lower_bound" if iw is not None else "exact"
    return {
        "model": model,
        "seed": seed,
        "data": {"name": "digits"},
        "likelihood": likelihood,
        "test": test,
        "parameters": 100,
        "seconds": 10.0 + seed,
    }


def _digits_results(maxpool_iw: tuple[float, float, float]) -> list[dict]:
    slice_iw = (1.90, 1.92, 1.91)
    return [
        *(_run("MaxPoolFlow", seed, 2.1, iw) for seed, iw in enumerate(maxpool_iw)),
        *(_run("SliceFlow", seed, 2.0, iw) for seed, iw in enumerate(slice_iw)),
        *(_run("PixelCategorical", seed, 2.43, None) for seed in range(3)),
    ]


def test_digits_target_compares_the_means_over_seeds_and_shows_each_seed() -> None:
    script = _script()
    # Gaps +0.04, +0.06, +0.035: one seed is outside 0.05, the mean (+0.045) inside.
    lines = script.targets("digits", _digits_results((1.94, 1.98, 1.945)))
    assert lines[0] == (
        "Target: MaxPoolFlow within 0.05 bits/dim of slicing (IW bounds, mean over seeds 0, 1, 2): +0.045 — PASS "
        "(by seed: +0.040 / +0.060 / +0.035)."
    )
    assert lines[1] == "Target: both flows clearly beat the per-pixel categorical (2.430): PASS."
    missed = script.targets("digits", _digits_results((1.97, 1.98, 1.965)))
    assert "+0.062 — MISS" in missed[0]


def test_bits_table_has_one_row_per_model_with_means_and_seeds() -> None:
    rows = _script().bits_table(_digits_results((1.94, 1.98, 1.945)))
    assert len(rows) == 2 + 3
    assert rows[2] == "| MaxPoolFlow | lower_bound | 2.100 | 1.955 | 1.940 / 1.980 / 1.945 | 100 | 11 s |"
    assert rows[4] == "| PixelCategorical | exact | 2.430 | – | – | 100 | 11 s |"
