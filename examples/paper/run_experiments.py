"""Reproduce the SurVAE Flows paper's comparisons on small data, and write RESULTS.md.

    .venv/bin/python examples/paper/run_experiments.py [--quick] [--only toy|digits|points]

Each experiment trains `.survae` models with `survae-train` (same seed, same budget for the
models compared) and collects their metrics.json into one table per experiment:

1. AbsFlow vs a coupling flow of the same size on corners, eight_gaussians and four_circles
   (paper §5.1): test log-likelihood in nats, next to the true density's.
2. MaxPoolFlow vs the slicing baseline on the 8x8 digits, both dequantized (paper Table 4's
   comparison), against independent per-pixel categoricals: test bits/dim, ELBO and IW bound.
3. SortFlow (exact) vs PermuteFlow (a bound) on spatial digits: nats per point.

`--quick` runs a few steps of each, to check that everything runs (the numbers mean nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
OUT = ROOT / "out" / "paper"

# (experiment, model file, model, data, epochs, batch size, learning rate)
RUNS = {
    "toy": [
        (f, m, data, 40, 256, 1e-3)
        for data in ("corners", "eight_gaussians", "four_circles")
        for f, m in (
            (ROOT / "examples" / "abs_flow.survae", "AbsFlow"),
            (ROOT / "examples" / "coupling_flow.survae", "CouplingFlow"),
        )
    ],
    "digits": [
        (HERE / "digits_maxpool.survae", "MaxPoolFlow", "digits", 60, 64, 2e-3),
        (HERE / "digits_slice.survae", "SliceFlow", "digits", 60, 64, 2e-3),
        (HERE / "digits_categorical.survae", "PixelCategorical", "digits", 60, 64, 2e-2),
    ],
    "points": [
        (HERE / "spatial_sort.survae", "SortFlow", "spatial_digits", 30, 64, 1e-3),
        (HERE / "spatial_permute.survae", "PermuteFlow", "spatial_digits", 30, 64, 1e-3),
    ],
}
# Seeds per experiment: the digits comparison is close enough for seed-to-seed spread (about
# 0.01 bits/dim) to matter, so its models are trained with three seeds and compared on the means.
SEEDS = {"toy": (0,), "digits": (0, 1, 2), "points": (0,)}
BENCH_HEADING = "## 4. Benchmarks (`make bench`)"  # bench/common.py RESULTS_BENCH_HEADING


def train(
    path: Path, model: str, data: str, epochs: int, batch: int, lr: float, seed: int, quick: bool, reuse: bool
) -> dict:
    from survae_dsl.train import main

    out = OUT / (f"{model}-{data}" if seed == 0 else f"{model}-{data}-seed{seed}")
    if reuse:  # tables only, from the metrics of an earlier full run
        return json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    argv = [str(path), "--data", data, "--model", model, "--epochs", str(epochs), "--batch-size", str(batch)]
    argv += ["--lr", str(lr), "--seed", str(seed), "--out", str(out)]
    if quick:
        argv += ["--max-steps", "5", "--iw-k", "4"]
    started = time.perf_counter()
    status = main(argv)
    if status != 0:
        raise SystemExit(f"training {model} on {data} failed (exit {status})")
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    metrics["wall_seconds"] = time.perf_counter() - started
    return metrics


def _nats(m: dict) -> str:
    return f"{m['test']['log_prob_nats']:.3f}"


def toy_table(results: list[dict]) -> list[str]:
    rows = [
        "| data | AbsFlow test ll | CouplingFlow test ll | true density | parameters (each) | AbsFlow better |",
        "|---|---|---|---|---|---|",
    ]
    for data in ("corners", "eight_gaussians", "four_circles"):
        by = {r["model"]: r for r in results if r["data"]["name"] == data}
        a, c = by["AbsFlow"], by["CouplingFlow"]
        true = a["test"].get("true_log_prob_nats")
        better = "yes" if a["test"]["log_prob_nats"] > c["test"]["log_prob_nats"] else "no"
        rows.append(
            f"| {data} | {_nats(a)} | {_nats(c)} | {true:.3f} | {a['parameters']:,} | {better} |"
            if true is not None
            else f"| {data} | {_nats(a)} | {_nats(c)} | – | {a['parameters']:,} | {better} |"
        )
    return rows


def by_model(results: list[dict]) -> dict[str, list[dict]]:
    """The runs of each model (one per seed), in the order they ran."""
    grouped: dict[str, list[dict]] = {}
    for r in results:
        grouped.setdefault(r["model"], []).append(r)
    return grouped


def bound_bits(r: dict) -> float:
    """Test bits/dim by the tightest bound measured: the IW bound if there is one."""
    test = r["test"]
    return test["iw"]["bits_per_dim"] if "iw" in test else test["bits_per_dim"]


def bits_table(results: list[dict]) -> list[str]:
    rows = [
        "| model | likelihood | test bits/dim (one-sample) | test bits/dim (IW bound) | IW bound by seed | parameters "
        "| train time (each) |",
        "|---|---|---|---|---|---|---|",
    ]
    for model, runs in by_model(results).items():
        first = runs[0]
        one_sample = statistics.fmean(r["test"]["bits_per_dim"] for r in runs)
        if "iw" in first["test"]:
            iw = f"{statistics.fmean(bound_bits(r) for r in runs):.3f}"
            seeds = " / ".join(f"{bound_bits(r):.3f}" for r in runs)
        else:
            iw = seeds = "–"
        seconds = statistics.fmean(r["seconds"] for r in runs)
        rows.append(
            f"| {model} | {first['likelihood']} | {one_sample:.3f} | {iw} | {seeds} | {first['parameters']:,} "
            f"| {seconds:.0f} s |"
        )
    return rows


def points_table(results: list[dict]) -> list[str]:
    rows = [
        "| model | likelihood | test nats/point (one-sample) | test nats/point (IW bound) | parameters | train time |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        per_point = -r["test"]["log_prob_nats"] / 50
        iw = r["test"].get("iw")
        iw_text = f"{-iw['log_prob_nats'] / 50:.3f}" if iw else "–"
        rows.append(
            f"| {r['model']} | {r['likelihood']} | {per_point:.3f} | {iw_text} | {r['parameters']:,} | {r['seconds']:.0f} s |"
        )
    return rows


# What we measured while trying to close the max-pooling gap: a record of single runs (seed 0
# unless said; the variant files are not shipped), printed under the digits table so that a
# reader of RESULTS.md sees what was tried. Gap = MaxPoolFlow - SliceFlow, IW bounds, bits/dim.
DIGITS_VARIANTS = [
    "Variants measured on the way (single runs at seed 0 unless said, max_pool's decoder",
    "`half_normal(net=conv(hidden=48))` unless said, changes applied to both models; gap = MaxPoolFlow −",
    "SliceFlow, IW bounds, bits/dim; the shipped files give the table above):",
    "",
    "| variant | gap |",
    "|---|---|",
    "| the shipped files with the half-normal decoder, seeds 0 / 1 / 2 | +0.062 / +0.053 / +0.051 |",
    "| 4 flow steps before the downsampling, 4 after | +0.14 |",
    "| 6 before, 2 after | +0.098 |",
    "| unconditional decoders (`half_normal()`, `normal()`) | +0.104 |",
    "| 150 epochs | +0.129 |",
    "| learning rate 1e-3 / 4e-3 | +0.064 / +0.055 |",
    "| batch size 32 | +0.064 |",
    "| nets of width 64 (with lr 4e-3) | +0.055 (+0.052) |",
    "| max_pool's decoder `conv(hidden=68)`: SliceFlow's parameter count (33,588 vs 33,544 today; 33,748 vs 33,704 when run, before linear and conv1x1 dropped their dead half) | +0.059 |",
    "| `scale(by=0.9) \\|> shift(by=0.05)` before `logit` (both 0.08 to 0.09 worse) | +0.077 |",
    "| max_pool's decoder `normal(net=conv(hidden=48))`, leaking mass onto negative gaps (a looser bound) | +0.120 |",
    "",
    "Slicing's decoder is a conditional normal: a location and a scale per dropped entry. The",
    "half-normal gives max-pooling's gaps a scale only, and its mode stays at zero, while the gaps",
    "below a window's maximum usually peak away from it. `truncated_normal` (our addition to the",
    "catalogue) gives the gaps a location and a scale from the same net, and the two models the same",
    "parameter count; over seeds 0, 1 and 2 it narrowed the mean gap from +0.055 to +0.036 (the",
    "seed-to-seed spread is about 0.01). A two-parameter gap model written by composition (`decoder=Gaps`, a model",
    "taking the gaps through `log` or `softplus_inv` into a conditional `normal`) did not train:",
    "4 to 7 bits/dim, with loss spikes, at learning rates 2e-3 and 1e-3 (the map's slope, about",
    "1/g, is unbounded at a zero gap; measured when `log` still clamped at 1e-6, since removed).",
]


def targets(experiment: str, results: list[dict]) -> list[str]:
    """The issue's targets for this experiment, measured: PASS or MISS, never hidden."""
    by = {(r["model"], r["data"]["name"]): r for r in results}

    def ll(model: str, data: str) -> float:
        return by[(model, data)]["test"]["log_prob_nats"]

    runs = by_model(results)

    def bpd(model: str) -> float:
        """Mean over seeds of the tightest bound."""
        return statistics.fmean(bound_bits(r) for r in runs[model])

    lines: list[str] = []
    if experiment == "toy":
        wins = [d for d in ("corners", "eight_gaussians", "four_circles") if ll("AbsFlow", d) > ll("CouplingFlow", d)]
        lines.append(
            f"Target: AbsFlow beats the same-size flow on all three sets: {len(wins)}/3 — {'PASS' if len(wins) == 3 else 'MISS'}."
        )
    elif experiment == "digits":
        gap = bpd("MaxPoolFlow") - bpd("SliceFlow")
        floor = bpd("PixelCategorical")
        per_seed = " / ".join(
            f"{bound_bits(m) - bound_bits(s):+.3f}" for m, s in zip(runs["MaxPoolFlow"], runs["SliceFlow"], strict=True)
        )
        seeds = ", ".join(str(r["seed"]) for r in runs["MaxPoolFlow"])
        lines.append(
            f"Target: MaxPoolFlow within 0.05 bits/dim of slicing (IW bounds, mean over seeds {seeds}): {gap:+.3f} — "
            f"{'PASS' if gap <= 0.05 else 'MISS'} (by seed: {per_seed})."
        )
        beaten = bpd("MaxPoolFlow") < floor - 0.1 and bpd("SliceFlow") < floor - 0.1
        lines.append(
            f"Target: both flows clearly beat the per-pixel categorical ({floor:.3f}): {'PASS' if beaten else 'MISS'}."
        )
    return lines


def old_section(text: str, heading: str) -> list[str]:
    """The lines of ``text``'s section under ``heading`` (a blank line first, as written, up to
    the next `## ` heading), or none if it has no such section."""
    if heading not in text:
        return []
    body = text[text.index(heading) :]
    end = body.find("\n## ", len(heading))
    return ["", *(body if end == -1 else body[:end]).rstrip("\n").split("\n")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few steps each: check that everything runs")
    parser.add_argument("--only", choices=sorted(RUNS), action="append", help="run only these experiments")
    parser.add_argument("--tables-only", action="store_true", help="rebuild RESULTS.md from out/paper without training")
    args = parser.parse_args(argv)
    chosen = args.only or list(RUNS)
    tables = {"toy": toy_table, "digits": bits_table, "points": points_table}
    titles = {
        "toy": "1. AbsFlow vs a coupling flow of the same size (paper §5.1), test log-likelihood in nats (higher is better)",
        "digits": "2. Max-pooling vs slicing on the 8x8 digits (paper Table 4's comparison), bits/dim (lower is better)",
        "points": "3. Sorting vs a random permutation on spatial digits (paper §5.4), nats per point (lower is better)",
    }
    blocks: dict[str, list[str]] = {}
    for experiment in chosen:
        results = [
            train(*run, seed=seed, quick=args.quick, reuse=args.tables_only)
            for run in RUNS[experiment]
            for seed in SEEDS[experiment]
        ]
        sections = [
            "",
            f"## {titles[experiment]}",
            "",
            *tables[experiment](results),
            "",
            *targets(experiment, results),
        ]
        if experiment == "digits" and not args.quick:
            sections += ["", *DIGITS_VARIANTS]
        sections += ["", "Commands:", "", "```"]
        for path, model, data, epochs, batch, lr in RUNS[experiment]:
            rel = Path(path).relative_to(ROOT)
            for seed in SEEDS[experiment]:
                sections.append(
                    f"survae-train {rel} --model {model} --data {data} --epochs {epochs} --batch-size {batch} "
                    f"--lr {lr} --seed {seed}"
                )
        sections.append("```")
        blocks[experiment] = sections
    import torch

    header = [
        "# Results",
        "",
        "Regenerate with `.venv/bin/python examples/paper/run_experiments.py` (metrics and plots land in out/paper).",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"Python {platform.python_version()}; seed 0 (the digits comparison: seeds 0, 1 and 2)."
        + (" QUICK RUN: a few steps each, numbers meaningless." if args.quick else ""),
    ]
    target = OUT / "RESULTS.md" if args.quick else ROOT / "RESULTS.md"
    target.parent.mkdir(parents=True, exist_ok=True)
    # The benchmark section (written by bench/run_all.py --results) follows ours: keep it.
    old = target.read_text(encoding="utf-8") if target.exists() else ""
    kept = old[old.index(BENCH_HEADING) :] if BENCH_HEADING in old else ""
    sections = []
    for experiment in RUNS:  # an experiment not run this time keeps its section (--only)
        if experiment in blocks:
            sections += blocks[experiment]
        else:
            sections += old_section(old, f"## {titles[experiment]}")
    text = "\n".join(header + sections) + "\n" + ("\n" + kept if kept else "")
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(target)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
