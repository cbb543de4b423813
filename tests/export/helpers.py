"""Shared by the export tests: the example models, fresh models with weights moved off their
zero start (a zero net would hide a wrong graph), and a program traced once per model."""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import torch

from survae_dsl.compiler.drivers.api import compile_source
from survae_dsl.export.core import trace
from survae_dsl.export.program import Signature, What, signature_of
from survae_dsl.nn import Model

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

# The example models (file relative to examples/, model name), zoo models under 4 million parameters included.
SMALL_FILES = [
    "abs_flow.survae",
    "coupling_flow.survae",
    *(f"catalogue/{name}" for name in ("images.survae", "sets.survae", "vectors.survae")),
    *(
        f"language/{name}"
        for name in (
            "conditional.survae",
            "conv_vae.survae",
            "dequantization.survae",
            "glow.survae",
            "vae_flow_prior.survae",
        )
    ),
    *(
        f"paper/{name}"
        for name in (
            "digits_categorical.survae",
            "digits_maxpool.survae",
            "digits_slice.survae",
            "spatial_permute.survae",
            "spatial_sort.survae",
        )
    ),
    "user_transform/soft_clip.survae",
    "user_transform/user_net.survae",
]
SMALL_ZOO_FILES = [
    f"zoo/{name}"
    for name in (
        "toy_abs_flow.survae",
        "toy_aug_flow.survae",
        "toy_flow.survae",
        "maf_power.survae",
        "nsf_power.survae",
        "mnist_vae.survae",
        "mnist_hvae.survae",
        "flow_prior_vae_mnist.survae",
        "iaf_vae_mnist.survae",
        "spatial_mnist_sort_flow.survae",
        "spatial_mnist_permute_flow.survae",
        "cifar10_aug_flow.survae",
    )
]


@functools.cache
def model_classes(relative: str) -> dict[str, type[Model]]:
    path = EXAMPLES / relative
    return compile_source(path.read_text(encoding="utf-8"), filename=str(path))


def all_models(files: list[str]) -> list[tuple[str, str]]:
    return [(relative, name) for relative in files for name in model_classes(relative)]


def fresh(relative: str, name: str, seed: int = 0) -> Model:
    """The model with fresh weights, each parameter moved by 0.01·N(0, 1) so that no net is zero."""
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_classes(relative)[name]()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.01 * torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype))
    return model.eval()


@functools.cache
def traced(relative: str, name: str, what: What) -> tuple[Model, Signature, torch.export.ExportedProgram]:
    """The model, its signature and its traced program: traced once for both formats."""
    model = fresh(relative, name)
    signature = signature_of(model, what)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = trace(model, signature)
    return model, signature, program
