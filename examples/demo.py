"""The survae-dsl demo (`make demo`): compile, check, draw and train the two example models.

1. `survae-compile --check -o out/NAME.py --render out/NAME.svg` on each example (the CLI's
   entry point, run in-process), printing its likelihood report;
2. imports the *written* modules `out/abs_flow.py` and `out/coupling_flow.py` (they import only
   torch and the runtime) and checks they agree with `survae_dsl.load`;
3. trains AbsFlow and CouplingFlow on a 2-D data set symmetric about both axes with the same
   budget (steps, batch, learning rate, seed) and prints a table of log-likelihoods.

Deterministic: every random draw comes from a fixed seed. About 30 s on 2 idle CPU cores
(the machine's load shows in the time column).
"""

from __future__ import annotations

import importlib.util
import math
import shutil
import sys
import time
import warnings
from pathlib import Path
from types import ModuleType

# torch warns at import when numpy is absent; the demo never needs numpy.
warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
import torch  # noqa: E402
from survae_dsl.compiler.drivers.cli import main as survae_compile  # noqa: E402

import survae_dsl  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from toy_data import log_density, make_splits  # noqa: E402

try:
    from tqdm import tqdm
except ImportError:  # tqdm is optional: plain progress lines instead
    tqdm = None

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
OUT = ROOT / "out"
MODELS = [("abs_flow", "AbsFlow"), ("coupling_flow", "CouplingFlow")]

DATASET = "corners"
SEED = 0
N_TRAIN, N_TEST = 20_000, 5_000
STEPS, BATCH, LR = 1_500, 256, 1e-3
EVAL_BATCH = 5_000


def banner(text: str) -> None:
    print(f"\n== {text} " + "=" * max(0, 74 - len(text)))


def compile_examples() -> None:
    """Run the CLI on each example: check report on stdout, module and diagram under out/."""
    OUT.mkdir(exist_ok=True)
    diagram = "svg" if shutil.which("dot") else "dot"
    if diagram == "dot":
        print("note: Graphviz's `dot` is not installed; writing .dot sources instead of .svg")
    for stem, _ in MODELS:
        source = EXAMPLES / f"{stem}.survae"
        args = [str(source), "--check", "-o", str(OUT / f"{stem}.py"), "--render", str(OUT / f"{stem}.{diagram}")]
        print(f"$ survae-compile {' '.join(_relative(a) for a in args)}")
        status = survae_compile(args)
        if status != 0:
            sys.exit(f"survae-compile failed on {source} (exit status {status})")
    written = ", ".join(f"out/{stem}.py, out/{stem}.{diagram}" for stem, _ in MODELS)
    print(f"wrote {written}")


def _relative(arg: str) -> str:
    path = Path(arg)
    return str(path.relative_to(ROOT)) if path.is_absolute() and path.is_relative_to(ROOT) else arg


def import_written(stem: str) -> ModuleType:
    """Import a generated module from its file, as a user of `survae-compile -o` would."""
    path = OUT / f"{stem}.py"
    spec = importlib.util.spec_from_file_location(f"demo_generated_{stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_against_load(cls: type, stem: str, name: str, x: torch.Tensor) -> float:
    """Largest |difference| in log_prob between the written class and `survae_dsl.load`'s,
    given the same weights: the two must be the same code."""
    written = cls()
    loaded = survae_dsl.load(EXAMPLES / f"{stem}.survae", model=name)()
    loaded.load_state_dict(written.state_dict())
    with torch.no_grad():
        return (written.log_prob(x) - loaded.log_prob(x)).abs().max().item()


def train(model: torch.nn.Module, data: torch.Tensor, label: str) -> float:
    """Maximum likelihood with Adam; returns the wall time in seconds."""
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    batches = torch.Generator().manual_seed(SEED + 1)  # same batches for every model
    steps = range(STEPS)
    progress = tqdm(steps, desc=f"{label:>12}", ncols=90, mininterval=0.5) if tqdm else steps
    start = time.perf_counter()
    for step in progress:
        index = torch.randint(0, data.shape[0], (BATCH,), generator=batches)
        loss = -model.log_prob(data[index]).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if not torch.isfinite(loss):
            sys.exit(f"{label}: the loss is {loss.item()} at step {step}")
        if tqdm:
            progress.set_postfix(nll=f"{loss.item():.3f}", refresh=False)
        elif step % 250 == 0 or step == STEPS - 1:
            print(f"{label:>12} step {step:5d}/{STEPS}  nll {loss.item():.3f}")
    return time.perf_counter() - start


@torch.no_grad()
def mean_log_prob(model: torch.nn.Module, data: torch.Tensor) -> float:
    return torch.cat([model.log_prob(chunk) for chunk in data.split(EVAL_BATCH)]).mean().item()


@torch.no_grad()
def sample_quality(model: torch.nn.Module, n: int = 5_000) -> float:
    """The true data log-density, averaged over the model's samples (higher: samples sit on
    the blobs; the data's own value is the data's negative entropy)."""
    samples = model.sample(n, generator=torch.Generator().manual_seed(SEED + 2))
    return log_density(DATASET, samples).mean().item()


def bpd(log_likelihood: float, dims: int = 2) -> float:
    return -log_likelihood / (math.log(2.0) * dims)


def main() -> None:
    torch.manual_seed(SEED)
    banner("compile and check the examples (survae-compile)")
    compile_examples()

    train_x, test_x = make_splits(DATASET, N_TRAIN, N_TEST, seed=SEED)
    banner("import the written modules")
    classes = {}
    for stem, name in MODELS:
        cls = import_written(stem).MODELS[name]
        difference = check_against_load(cls, stem, name, test_x[:512])
        print(f"out/{stem}.py: {name} (likelihood {cls.likelihood!r}); "
              f"max |log_prob - load() log_prob| = {difference:.1e}")
        classes[name] = cls

    banner(f"train on '{DATASET}' ({N_TRAIN} train / {N_TEST} test points, symmetric about both axes)")
    print(f"Adam, {STEPS} steps, batch {BATCH}, lr {LR}, seed {SEED}: the same for both models")
    rows = []
    for name, cls in classes.items():
        torch.manual_seed(SEED)  # same initial weights wherever the layers coincide
        model = cls()
        seconds = train(model, train_x, name)
        model.eval()
        parameters = sum(p.numel() for p in model.parameters())
        train_ll, test_ll = mean_log_prob(model, train_x), mean_log_prob(model, test_x)
        rows.append((name, cls.likelihood, parameters, train_ll, test_ll, sample_quality(model), seconds))

    true_train, true_test = log_density(DATASET, train_x).mean().item(), log_density(DATASET, test_x).mean().item()
    rows.append(("true density", "-", 0, true_train, true_test, true_test, 0.0))
    print_table(rows)


def print_table(rows: list[tuple]) -> None:
    banner("results (log-likelihoods in nats per example, mean over the split)")
    header = f"{'model':<14}{'likelihood':<12}{'params':>8}{'train ll':>10}{'test ll':>10}" \
             f"{'test bpd':>10}{'samples ll*':>13}{'time':>8}"
    print(header)
    print("-" * len(header))
    for name, likelihood, parameters, train_ll, test_ll, samples_ll, seconds in rows:
        params = f"{parameters:,}" if parameters else "-"
        time_s = f"{seconds:.0f}s" if seconds else "-"
        print(f"{name:<14}{likelihood:<12}{params:>8}{train_ll:>10.3f}{test_ll:>10.3f}"
              f"{bpd(test_ll):>10.3f}{samples_ll:>13.3f}{time_s:>8}")
    print("* samples ll: the true data log-density averaged over 5,000 model samples "
          "(for the true density: its test ll).")


if __name__ == "__main__":
    main()
