"""Every file of `examples/zoo`, and every model in it, is listed by exactly one group module.

A group module is a `test_*.py` of this folder with an `EXPECTED` (model name → `Expected`); the
groups are found here rather than named, so a new zoo file, a new model in a zoo file, or a
new group that lists a model twice fails until a group lists it once.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import pytest

from .common import ZOO, Group, checked_models, listed_in

HERE = Path(__file__).resolve().parent
ZOO_FILES = sorted(path.name for path in ZOO.glob("*.survae"))


def _groups() -> dict[str, Group]:
    """Module name → its EXPECTED, for each group module of this folder."""
    package = __package__ or "zoo"
    modules: list[ModuleType] = [
        importlib.import_module(f"{package}.{path.stem}")
        for path in sorted(HERE.glob("test_*.py"))
        if path.stem != Path(__file__).stem
    ]
    return {module.__name__: module.EXPECTED for module in modules if hasattr(module, "EXPECTED")}


def test_the_groups_are_found() -> None:
    names = {name.rsplit(".", 1)[-1] for name in _groups()}
    assert {"test_toy", "test_mnist_sets", "test_cifar", "test_cifar_pool", "test_more"} <= names


@pytest.mark.parametrize("file", ZOO_FILES)
def test_each_zoo_file_is_listed_by_exactly_one_group(file: str) -> None:
    listing = [module for module, group in _groups().items() if listed_in(group, file)]
    assert len(listing) == 1, f"{file} is listed by {listing or 'no group'}"


@pytest.mark.parametrize("file", ZOO_FILES)
def test_each_model_of_a_zoo_file_is_listed_by_exactly_one_group(file: str) -> None:
    for model in checked_models(file):
        listing = [module for module, group in _groups().items() if model.name in listed_in(group, file)]
        assert len(listing) == 1, f"{model.name} of {file} is listed by {listing or 'no group'}"


def test_every_listed_file_is_in_the_zoo() -> None:
    listed = {entry.file for group in _groups().values() for entry in group.values()}
    assert listed <= set(ZOO_FILES)
