"""docs/catalogue.md is generated from the catalogue, and reads as a user would write a model:
defaults as keyword values (`half_normal()`, `false`, `[64, 64]`), what leaving out an optional
keyword means, and domains as the language names them (issue 17)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from survae_dsl.compiler.catalogue import DIST_TABLE, NET_TABLE, OP_TABLE
from survae_dsl.compiler.doctools.docs_pages import catalogue_page

ROOT = Path(__file__).resolve().parent.parent
PAGE = catalogue_page()
ENTRIES = {**{f"op {k}": v for k, v in OP_TABLE.items()}, **{f"distribution {k}": v for k, v in DIST_TABLE.items()}}
ENTRIES |= {f"net {k}": v for k, v in NET_TABLE.items()}


def rows(entry: str) -> dict[str, tuple[str, str]]:
    """keyword → (default, values) of the entry's table in the page."""
    section = PAGE.split(f"### `{entry}`\n", 1)[1].split("\n### ", 1)[0]
    found = {}
    for line in section.splitlines():
        if line.startswith("| `"):
            cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
            assert len(cells) == 3, line  # a `|` inside a cell is escaped
            found[cells[0].strip().strip("`")] = (cells[1].strip(), cells[2].strip())
    return found


def test_committed_page_is_generated() -> None:
    page = (ROOT / "docs" / "catalogue.md").read_text(encoding="utf-8")
    assert page == PAGE, "regenerate it: python -m survae_dsl.compiler.doctools.docs_pages docs"


def test_no_python_reprs_or_placeholders() -> None:
    for junk in ("CallValue(", "TensorRef(", "Domain(", "int<0>", "None", "True", "False", "span=", "kwargs="):
        assert junk not in PAGE, junk


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_every_keyword_default_reads_as_a_model_file_writes_it(name: str) -> None:
    entry = ENTRIES[name]
    table = rows(entry.name)
    assert set(table) == set(entry.params.model_fields)
    for keyword, info in entry.params.model_fields.items():
        default, _ = table[keyword]
        if keyword in ("net", "context", "encoder", "decoder"):
            assert "⌈n/2⌉" not in default, f"{entry.name}.{keyword}: {default}"
        if info.is_required():
            assert default == "required"
        elif info.default is None:
            assert default == entry.params.unset[keyword], f"{entry.name}.{keyword}: say what leaving it out means"


def test_specific_defaults() -> None:
    assert rows("affine_coupling")["net"][0] == "required"
    assert rows("affine_coupling")["context"][0] == "none"
    assert rows("affine_coupling")["split"][0] == "⌈n/2⌉"
    assert rows("split")["sizes"][0] == "[⌈n/2⌉, ⌊n/2⌋]"
    assert rows("normal")["net"][0] == "none (unconditional)"
    assert rows("abs")["net"][0] == "none (required with `sign=learned`)"
    assert rows("dequantize")["encoder"][0] == "uniform noise"
    assert rows("max_pool")["decoder"][0] == "`half_normal()`"
    assert rows("slice")["decoder"][0] == "`standard_normal()`"
    assert rows("augment")["encoder"][0] == "`standard_normal()`"
    assert rows("transformer")["positional"][0] == "`false`"
    assert rows("mlp")["hidden"][0] == "`[64, 64]`"
    assert rows("dequantize")["encoder"][1] == r"q(u \| x) on (0, 1), e.g. `logit_normal(net=...)`"


def test_supports_and_summaries_name_domains_as_the_language_does() -> None:
    assert "Support: int<K>, with K from the type of the tensor it models." in PAGE
    assert "Support: int<2>." in PAGE
    assert "\nint<K> → unit by adding noise" in PAGE  # not capitalised into `Int<K>`
    assert "\nσ(N(μ, σ²)) on (0, 1)" in PAGE  # a sigmoid, not capitalised into a sum
