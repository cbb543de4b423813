"""The checker on per-entry `shift`/`scale`, learned `affine`, `batchnorm` and
`standard_half_normal`: domains, folds and the likelihood class stay sound (docs/language.md,
What the checker enforces)."""

from __future__ import annotations

import pytest

from survae_dsl.compiler.core.diagnostics import CompileError
from survae_dsl.compiler.core.domains import INF, POSITIVE, REAL, interval
from survae_dsl.compiler.drivers.driver import check_source
from survae_dsl.compiler.ir.checked import CheckedModel


def _model(body: str, inputs: str = "input x: real[3]") -> CheckedModel:
    result = check_source(f"model M {{\n    {inputs}\n{body}\n}}\n", "m.survae")
    (model,) = result.models
    return model


def _codes(body: str, inputs: str = "input x: real[3]") -> list[str]:
    with pytest.raises(CompileError) as info:
        check_source(f"model M {{\n    {inputs}\n{body}\n}}\n", "m.survae")
    return [d.code for d in info.value.diagnostics if d.is_error]


def test_positive_list_on_an_interval_is_the_hull_and_does_not_fill() -> None:
    model = _model("    h = scale(x, by=[1, 3])\n    h ~ normal()", "input x: unit[2]")
    (part,) = model.types["h"].parts
    assert part.domain == interval(0, 3) and not part.fills
    assert [w.code for w in model.warnings] == ["W401"]  # normal generates values no entry reaches


def test_a_negative_number_in_a_list_needs_a_real_tensor() -> None:
    assert _codes("    h = scale(x, by=[1, -2])\n    h ~ normal()", "input x: positive[2]") == ["E405"]


def test_lists_that_do_not_fit_the_shape_are_e312() -> None:
    assert _codes("    h = scale(x, by=[1, 2])\n    h ~ normal()") == ["E312"]
    assert _codes("    h = shift(x, by=[1, 2, 3], per=channel)\n    h ~ normal()", "input x: real[2, 3]") == ["E312"]


def test_per_goes_only_with_a_list() -> None:
    assert _codes("    h = scale(x, by=2, per=channel)\n    h ~ normal()") == ["E205"]


def test_different_numbers_along_a_sorted_vector_break_its_order() -> None:
    """x1 < x2 does not give 1·x1 < 3·x2 (nor x1 + 5 < x2): the order of `sort` is gone."""
    for by in ("scale(h, by=[1, 2, 3])", "shift(h, by=[5, 0, 0])"):
        assert _codes(f"    h = sort(x, dim=0)\n    h = {by}\n    h = sorted_to_real(h, dim=0)\n    h ~ normal()") == [
            "E405"
        ]
        model = _model(f"    h = sort(x, dim=0)\n    h = {by}\n    h ~ normal()")
        assert model.likelihood == "lower_bound"


def test_equal_positive_numbers_keep_the_order() -> None:
    body = "    h = sort(x, dim=0)\n    h = scale(h, by=[2, 2, 2])\n    h = sorted_to_real(h, dim=0)\n    h ~ normal()"
    model = _model(body)
    assert model.likelihood == "exact"


def test_per_channel_numbers_keep_the_order_of_a_sets_key_row_when_positive() -> None:
    body = (
        "    h = sort(x, dim=1)\n    h = scale(h, by=[{}, -1], per=channel)\n"
        "    h = sorted_to_real(h, dim=1)\n    h ~ normal()"
    )
    assert _model(body.format(2), "input x: real[2, 3]").likelihood == "exact"
    assert _codes(body.format(-2), "input x: real[2, 3]") == ["E405"]  # the key row reversed


def test_per_element_numbers_that_differ_along_a_sets_key_row_break_the_order() -> None:
    body = (
        "    h = sort(x, dim=1)\n    h = scale(h, by=[1, 2, 3, 1, 1, 1])\n"
        "    h = sorted_to_real(h, dim=1)\n    h ~ normal()"
    )
    assert _codes(body, "input x: real[2, 3]") == ["E405"]


def test_an_interval_fold_keeps_the_region_every_entry_agrees_on() -> None:
    """abs then shift by [1, 2]: the entries must stay above 1 and above 2; a consumer is safe
    only inside both (above 2), and `log` does not close the fold of the first entry."""
    model = _model("    h = abs(x)\n    h = shift(h, by=[1, 2])\n    h ~ normal()", "input x: real[2]")
    assert model.likelihood == "lower_bound"
    assert model.types["h_1"].folds[0].region == interval(2, INF)
    logged = _model("    h = abs(x)\n    h = shift(h, by=[1, 2])\n    h = log(h)\n    h ~ normal()", "input x: real[2]")
    assert logged.likelihood == "lower_bound"


def test_the_fold_is_not_closed_by_a_map_that_closes_it_for_some_entries_only() -> None:
    """abs, shift by [0, 1], log: `log` maps the first entry's fold onto the reals, not the second's."""
    model = _model("    h = abs(x)\n    h = shift(h, by=[0, 1])\n    h = log(h)\n    h ~ normal()", "input x: real[2]")
    assert model.likelihood == "lower_bound"
    closed = _model("    h = abs(x)\n    h = shift(h, by=[0, 0])\n    h = log(h)\n    h ~ normal()", "input x: real[2]")
    assert closed.likelihood == "exact"


def test_learned_maps_take_real_values_and_leak_folds() -> None:
    for op in ("affine(h)", "affine(h, per=channel)", "batchnorm(h)"):
        model = _model(f"    h = abs(x)\n    h = {op}\n    h ~ normal()", "input x: real[2]")
        assert model.likelihood == "lower_bound"
        assert model.types["h_1"].domain == REAL
        sorted_ = _model(f"    h = sort(x, dim=0)\n    h = {op}\n    h ~ normal()")
        assert sorted_.likelihood == "lower_bound"


def test_batchnorm_is_exact_with_a_note() -> None:
    model = _model("    h = batchnorm(x)\n    h ~ normal()")
    assert (model.likelihood, model.reasons) == ("exact", [])
    (note,) = model.notes
    assert note.kind == "note" and note.op == "batchnorm"
    assert "evaluation mode" in note.message and "line 3" in note.message
    assert _model("    h = affine(x)\n    h ~ normal()").notes == []


def test_standard_half_normal_needs_positive_values() -> None:
    assert _codes("    x ~ standard_half_normal()") == ["E406"]
    model = _model("    x ~ standard_half_normal()", "input x: positive[3]")
    assert model.likelihood == "exact" and model.types["x"].domain == POSITIVE
