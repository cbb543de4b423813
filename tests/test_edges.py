"""`log_prob` is finite on the whole closed domain of a model's input, edges included, and so
are its gradients (docs/catalogue.md: maps with a singular edge move only the exact edge points to
the nearest interior value; §6.3: clamps add no mass, tested in tests/nn/test_clamps_add_no_mass.py)."""

from __future__ import annotations

import warnings

import pytest

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
import torch  # noqa: E402

import survae_dsl  # noqa: E402

CASES = {
    "abs at 0, softplus_inv of 0": (
        "input x: real[2]\n h = abs(x)\n h = softplus_inv(h)\n h ~ normal()",
        torch.tensor([[0.0, 0.0], [0.0, 3.0], [-0.0, -2.0]]),
    ),
    "logit at 0 and 1": (
        "input x: unit[2]\n h = logit(x)\n h ~ normal()",
        torch.tensor([[0.0, 1.0], [1.0, 1.0], [0.0, 0.5]]),
    ),
    "log at 0": ("input x: positive[2]\n h = log(x)\n h ~ normal()", torch.tensor([[0.0, 1.0], [0.0, 0.0]])),
    "softplus_inv at 0, next to 1e-300": (
        "input x: positive[2]\n h = softplus_inv(x)\n h ~ normal()",
        torch.tensor([[0.0, 1e-300], [0.0, 0.0]], dtype=torch.float64),  # 1e-300 is 0 in float32
    ),
    "logit_normal at 0 and 1": ("input x: unit[2]\n x ~ logit_normal()", torch.tensor([[0.0, 1.0], [1.0, 0.5]])),
    "dequantize at 0 and K-1": (
        "input x: int<4>[3]\n h = dequantize(x)\n h = logit(h)\n h ~ normal()",
        torch.tensor([[0, 3, 0], [3, 3, 3], [0, 0, 0]]),
    ),
    "sort with ties": (
        "input x: real[4]\n h = sort(x, dim=0)\n h = sorted_to_real(h, dim=0)\n h ~ normal()",
        torch.tensor([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 2.0, 2.0], [-1.0, 3.0, -1.0, 3.0]]),
    ),
    "sort a set with tied keys": (
        "input x: real[2, 3]\n h = sort(x, dim=1, key=0)\n h = sorted_to_real(h, dim=1, key=0)\n h ~ normal()",
        torch.tensor([[[0.5, 0.5, 0.5], [1.0, 2.0, 3.0]]]),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_log_prob_is_finite_at_the_edges(case: str, dtype: torch.dtype) -> None:
    body, x = CASES[case]
    model = survae_dsl.compile_source(f"model M {{\n {body}\n}}\n")["M"]().to(dtype)
    x = x if not x.is_floating_point() else x.to(dtype).clone().requires_grad_(True)
    log_p = model.log_prob(x)
    assert torch.isfinite(log_p).all(), (case, log_p)
    if log_p.requires_grad:  # gradients at the edges must be finite too
        log_p.sum().backward()
    for parameter in model.parameters():
        assert parameter.grad is None or torch.isfinite(parameter.grad).all()
    assert x.grad is None or torch.isfinite(x.grad).all(), (case, x.grad)
