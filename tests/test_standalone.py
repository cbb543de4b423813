"""`survae-compile --standalone`: a module that runs with torch alone.

Each example is compiled both ways; the standalone module is imported in a fresh process in
which `import survae_dsl` fails, loads the normal module's weights, and must give the same
`log_prob` on the same inputs (random layers reseeded identically).
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import pytest

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
import torch  # noqa: E402

import survae_dsl  # noqa: E402
from survae_dsl.compiler.drivers.cli import main  # noqa: E402

pytestmark = pytest.mark.slow  # a fresh process per model, importing torch: about 15 s

ROOT = Path(__file__).resolve().parent.parent
CASES = {
    "abs_flow": (ROOT / "examples" / "abs_flow.survae", "AbsFlow", "real[2]", {}),
    "images": (ROOT / "examples" / "catalogue" / "images.survae", "ImageFlow", "int<16>[1, 4, 4]", {}),
    "glow": (ROOT / "examples" / "language" / "glow.survae", "Glow", "int<17>[1, 8, 8]", {}),
    "conditional": (ROOT / "examples" / "language" / "conditional.survae", "ConditionalFlow", "real[2]", {"c": 2}),
    "composition": (ROOT / "examples" / "language" / "vae_flow_prior.survae", "VaeFlowPrior", "int<2>[16]", {}),
}

PROGRAM = """
import sys, importlib.util, torch
sys.modules["survae_dsl"] = None  # importing the package now fails: the module must not need it
spec = importlib.util.spec_from_file_location("standalone_model", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
saved = torch.load(sys.argv[2])
model = getattr(module, sys.argv[3])().double()
model.load_state_dict(saved["state"])
torch.manual_seed(0)
out = model.log_prob(saved["x"], **saved["contexts"])
torch.save(out, sys.argv[4])
"""


def _data(type_text: str, generator: torch.Generator) -> torch.Tensor:
    shape = (5, *(int(d) for d in type_text[type_text.index("[") + 1 : -1].split(",")))
    if type_text.startswith("int"):
        classes = int(type_text[4 : type_text.index(">")])
        return torch.randint(0, classes, shape, generator=generator)
    return torch.randn(shape, generator=generator, dtype=torch.float64)


@pytest.mark.parametrize("case", sorted(CASES))
def test_standalone_module_matches_the_normal_one(case: str, tmp_path: Path) -> None:
    path, name, input_type, contexts = CASES[case]
    out = tmp_path / "standalone.py"
    assert main([str(path), "-o", str(out), "--standalone", "--model", name]) == 0
    code = out.read_text(encoding="utf-8")
    assert "survae_dsl" not in "\n".join(line for line in code.splitlines() if line.startswith(("import", "from")))

    model = survae_dsl.load(path, model=name)().double()
    torch.manual_seed(1)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    generator = torch.Generator().manual_seed(2)
    x = _data(input_type, generator)
    context_values = {k: torch.randn(5, n, generator=generator, dtype=torch.float64) for k, n in contexts.items()}
    torch.save({"state": model.state_dict(), "x": x, "contexts": context_values}, tmp_path / "saved.pt")
    torch.manual_seed(0)
    expected = model.log_prob(x, **context_values)

    result = tmp_path / "result.pt"
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(out), str(tmp_path / "saved.pt"), name, str(result)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    torch.testing.assert_close(torch.load(result), expected.detach())


def test_standalone_output_is_deterministic(tmp_path: Path) -> None:
    path = CASES["images"][0]
    first, second = tmp_path / "a.py", tmp_path / "b.py"
    assert main([str(path), "-o", str(first), "--standalone"]) == 0
    assert main([str(path), "-o", str(second), "--standalone"]) == 0
    assert first.read_bytes() == second.read_bytes()
