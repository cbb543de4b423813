"""Pass 1: bind every op and `~` to its catalogue entry and validate its keywords.

The entry's pydantic parameter model is the schema; its validation errors become E2xx
diagnostics pointing at the keyword at fault. Nested calls (`net=mlp(...)`) are checked
against the nets (or distributions) of the catalogue the same way.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from ..catalogue import (
    DIST_TABLE,
    NET_TABLE,
    OP_TABLE,
    CallValue,
    DistEntry,
    NetEntry,
    OpEntry,
    Params,
    all_names,
    role_of,
)
from ..core import codes
from ..core.diagnostics import Diagnostic, error
from ..core.source import Span
from ..core.suggest import did_you_mean, typo_of
from ..frontend.arith import NOT_WHOLE_HINT, Quotient
from ..ir.checked import Bound, BoundNet
from ..ir.graph import DistNode, KwArg, ModelIR, OpNode
from .composition import model_entry, unfit

_ROLE_WORDS = {"op": "a transform", "distribution": "a distribution", "net": "a net"}


# Model name → its CheckedModel (Any: check.py imports this module), or None for a model of the
# file that failed its own checks: its uses bind to nothing, silently, since its errors are
# reported already and "unknown distribution" would only mislead.
Used = dict[str, Any]
# The file's `net` declarations by name: usable as `net=` wherever a built-in net is.
UserNets = dict[str, NetEntry]


def check_args(model: ModelIR, used: Used | None = None) -> tuple[dict[str, Bound], list[Diagnostic]]:
    """Bound calls by node id (nodes with errors are left out), and the diagnostics.

    `used` holds the file's models already checked, by name: they may be used as
    distributions (docs/language.md, What the checker enforces)."""
    used = used or {}
    bound: dict[str, Bound] = {}
    diagnostics: list[Diagnostic] = []
    for node in model.graph.nodes:
        payload = model.payload(node)
        if isinstance(payload, OpNode):
            result = _bind_op(payload, diagnostics, used, model.user_ops, model.user_nets)
        elif isinstance(payload, DistNode):
            result = _bind_dist(payload, diagnostics, used, model.user_nets)
        else:
            continue
        if result is not None:
            bound[node] = result
    return bound, diagnostics


def _bind_op(
    node: OpNode, out: list[Diagnostic], used: Used, user_ops: dict[str, OpEntry], nets: UserNets
) -> Bound | None:
    if node.failed:  # a block call already reported by lowering
        return None
    entry = user_ops.get(node.op) or OP_TABLE.get(node.op)
    if entry is None:
        out.append(_wrong_callee(node.op, node.callee_span, expected="op"))
        return None
    call = _bind(entry, node.kwargs, node.callee_span, out, used, nets)
    if call is None:
        return None
    gives = entry.num_outputs(call.params)
    if len(node.outputs) != gives:
        out.append(
            error(
                codes.E206,
                node.span,
                f"`{node.op}` gives {gives} tensor{'s' * (gives != 1)}, "
                f"but {len(node.outputs)} name{'s are' if len(node.outputs) != 1 else ' is'} bound to it",
                f"write `h = {node.op}(...)`" if gives == 1 else f"write `{', '.join(_names(gives))} = {node.op}(...)`",
            )
        )
        return None
    if not node.resolved:  # a tensor argument is unknown (reported already): no count to check
        return None
    takes = entry.num_inputs
    if (takes is None and len(node.inputs) < 2) or (takes is not None and len(node.inputs) != takes):
        wanted = "two or more tensors" if takes is None else f"{takes} tensor{'s' * (takes != 1)}"
        out.append(
            error(
                codes.E206,
                node.span,
                f"`{node.op}` takes {wanted}, found {len(node.inputs)}",
                f"write `{node.op}(a, b, ...)`"
                if takes is None
                else f"write `{node.op}(h, key=value)`; hyper-parameters go by keyword",
            )
        )
        return None
    return call


def _names(count: int) -> list[str]:
    return [chr(ord("a") + i) for i in range(min(count, 26))]


def _bind_dist(node: DistNode, out: list[Diagnostic], used: Used, nets: UserNets) -> Bound | None:
    if node.dist in used:
        model = used[node.dist]
        return None if model is None else bind_model_use(model, node.kwargs, node.callee_span, out, after_tilde=True)
    entry = DIST_TABLE.get(node.dist)
    if entry is None:
        out.append(_wrong_callee(node.dist, node.callee_span, expected="distribution", used=used))
        return None
    call = _bind(entry, node.kwargs, node.callee_span, out, used, nets)
    if call is not None and "net" in call.nets and call.params.context is None:
        net_kw = node.kwarg("net")
        out.append(
            error(
                codes.E214,
                net_kw.span if net_kw else node.span,
                f"`{node.dist}(net=...)` is conditional, but it is given no context to read",
                "name the tensor its net reads: `context=NAME`; or drop `net=`",
            )
        )
        return None
    return call


def _bind(
    entry: OpEntry | DistEntry,
    kwargs: tuple[KwArg, ...],
    span: Span,
    out: list[Diagnostic],
    used: Used,
    nets: UserNets,
) -> Bound | None:
    values = {k.name: k.value for k in kwargs}
    by_name = {k.name: k for k in kwargs}
    for key, role in entry.params.nested.items():
        # `encoder=Noise`: a model named without parentheses is a call without arguments.
        if role == "distribution" and isinstance(values.get(key), str) and values[key] in used:
            values[key] = CallValue(values[key], (), by_name[key].span)
    params = validate(entry.params, entry.name, values, span, by_name, out)
    if params is None:
        return None
    return _bind_nested(entry, params, span, by_name, out, used, nets)


def _bind_nested(
    entry: OpEntry | DistEntry,
    params: Any,
    span: Span,
    kwargs: dict[str, KwArg],
    out: list[Diagnostic],
    used: Used,
    nets: UserNets,
) -> Bound | None:
    """Bind the nets and distributions given as keyword values; None if one has an error."""
    bound_nets: dict[str, BoundNet] = {}
    dists: dict[str, Bound] = {}
    ok = True
    for name, role in entry.params.nested.items():
        value = getattr(params, name, None)
        if not isinstance(value, CallValue):
            continue
        # A default (`decoder=half_normal()` unwritten) has no span: point at the call.
        where = value.span if value.span is not None else span
        call = CallValue(value.name, value.kwargs, where)
        if role == "net":
            net = _bind_net(call, out, nets)
            ok = ok and net is not None
            if net is not None:
                bound_nets[name] = net
        else:
            dist = _bind_nested_dist(call, out, used, nets)
            ok = ok and dist is not None
            if dist is not None:
                dists[name] = dist
    return Bound(entry, params, bound_nets, dists) if ok else None


def _bind_nested_dist(call: CallValue, out: list[Diagnostic], used: Used, nets: UserNets) -> Bound | None:
    if call.name in used:
        model = used[call.name]
        return (
            None if model is None else bind_model_use(model, (), call.span, out, after_tilde=False, given=call.kwargs)
        )
    entry = DIST_TABLE.get(call.name)
    if entry is None:
        out.append(_wrong_callee(call.name, call.span, expected="distribution", used=used))
        return None
    if any(key == "context" for key, _ in call.kwargs):
        out.append(
            error(
                codes.E203,
                call.span,
                f"`{call.name}` as an op's encoder or decoder reads its context from the op: it takes no `context=`",
                "remove `context=`; give it `net=` to make it conditional on what the op passes it",
            )
        )
        return None
    params = validate(entry.params, entry.name, dict(call.kwargs), call.span, {}, out)
    if params is None:
        return None
    return _bind_nested(entry, params, call.span, {}, out, used, nets)


def _bind_net(call: CallValue, out: list[Diagnostic], nets: UserNets) -> BoundNet | None:
    entry = nets.get(call.name) or NET_TABLE.get(call.name)
    if entry is None:
        out.append(_wrong_callee(call.name, call.span, expected="net", nets=nets))
        return None
    params = validate(entry.params, entry.name, dict(call.kwargs), call.span, {}, out)
    return BoundNet(entry, params) if params is not None else None


def _wrong_callee(
    name: str, span: Span, expected: str, used: Used | None = None, nets: UserNets | None = None
) -> Diagnostic:
    role = role_of(name)
    callee_span = Span(span.filename, span.line, span.column, span.line, span.column + len(name), span.via)
    if role is None:
        pool = {"op": OP_TABLE, "distribution": {**DIST_TABLE, **(used or {})}, "net": {**NET_TABLE, **(nets or {})}}[
            expected
        ]
        hint = did_you_mean(name, pool) or did_you_mean(name, all_names())
        return error(codes.E201, callee_span, f"unknown {expected} `{name}`", hint)
    usage = {
        "op": f"transforms are applied as `h = {name}(h, ...)`",
        "distribution": f"distributions are used as `h ~ {name}(...)` or as an `encoder=`/`decoder=`",
        "net": f"nets are passed to ops as `net={name}(...)`",
    }[role]
    return error(
        codes.E209,
        callee_span,
        f"`{name}` is {_ROLE_WORDS[role]}, but {_ROLE_WORDS[expected]} is expected here",
        usage,
    )


# --------------------------------------------------------------------------------------------
# pydantic → diagnostics


def validate(
    schema: type[Params],
    owner: str,
    values: dict[str, Any],
    call_span: Span,
    kwargs: dict[str, KwArg],
    out: list[Diagnostic],
) -> Params | None:
    """`schema(**values)`, or None with one diagnostic per problem."""
    try:
        return schema(**values)
    except ValidationError as exc:
        reported: set[str] = set()
        for err in exc.errors():
            key = str(err["loc"][0]) if err["loc"] else ""
            if key in values and _reported(values[key]):  # None: the constant it names failed (reported)
                continue
            if key not in reported:  # one diagnostic per keyword: its first problem
                reported.add(key)
                out.append(_translate(err, schema, owner, values, call_span, kwargs))
        return None


def _reported(value: Any) -> bool:
    """Whether a keyword's value holds None: a constant that could not be resolved, which
    lowering has reported (E208, E505, E507)."""
    if value is None:
        return True
    if isinstance(value, tuple):
        return any(_reported(v) for v in value)
    if isinstance(value, CallValue):
        return any(_reported(v) for _, v in value.kwargs)
    return False


def _translate(
    err: Any, schema: type[Params], owner: str, values: dict[str, Any], call_span: Span, kwargs: dict[str, KwArg]
) -> Diagnostic:
    key = str(err["loc"][0]) if err["loc"] else ""
    kw = kwargs.get(key)
    span = kw.span if kw else call_span
    kind = err["type"]
    if kind == "extra_forbidden":
        span = kw.name_span if kw else call_span
        known = list(schema.model_fields)
        hint = (
            schema.not_taken.get(key)
            or did_you_mean(key, known)
            or (f"`{owner}` takes " + ", ".join(f"`{k}`" for k in known) if known else f"`{owner}` takes no keywords")
        )
        return error(codes.E203, span, f"`{owner}` has no keyword `{key}`", hint)
    if kind == "missing":
        example = schema.examples.get(key, "...")
        return error(codes.E204, call_span, f"`{owner}` needs the keyword `{key}`", f"add `{key}={example}`")
    if kind in ("int_type", "int_from_float") and isinstance(err.get("input"), Quotient):
        # Arithmetic whose division is not exact, where a whole number is required.
        where = f"`{key}` of `{owner}`" if len(err["loc"]) == 1 else f"every entry of `{key}` of `{owner}`"
        quotient = err["input"]
        return error(
            codes.E305, quotient.span, f"{where} must be a whole number, but {quotient.fraction()}", NOT_WHOLE_HINT
        )
    expected = _expected(err, schema, key)
    if kind == "value_error" and key not in values:  # a keyword the others make necessary
        example = schema.examples.get(key, "...")
        return error(codes.E204, call_span, f"`{owner}` needs the keyword `{key}` {expected}", f"add `{key}={example}`")
    found = _show(values.get(key))
    subject = f"every entry of `{key}` of `{owner}`" if len(err["loc"]) > 1 else f"`{key}` of `{owner}`"
    return error(codes.E205, span, f"{subject} {expected}, found {found}", _value_hint(err, schema, key, values))


def _expected(err: Any, schema: type[Params], key: str) -> str:
    kind, ctx = err["type"], err.get("ctx", {})
    if kind == "literal_error":
        return "must be one of " + _choices(schema, key)
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        sign = {"greater_than_equal": "≥", "greater_than": ">", "less_than_equal": "≤", "less_than": "<"}[kind]
        bound = next(iter(ctx.values()), "?")
        return f"must be {sign} {bound}"
    if kind == "too_short":
        return "must not be empty"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    if kind in ("int_type", "int_from_float"):
        return "must be a whole number"
    if kind in ("float_type", "float_parsing"):
        return "must be a number"
    if kind == "bool_type":
        return "must be `true` or `false`"
    if kind in ("tuple_type", "list_type"):
        return "must be a list like `[64, 64]`"
    if kind in ("is_instance_of", "dataclass_exact_type", "dataclass_type"):  # a nested call was expected
        return "must be a call like `mlp(hidden=[64])`"
    return f"is invalid: {err['msg'].lower()}"


def _choices(schema: type[Params], key: str) -> str:
    field_info = schema.model_fields.get(key)
    args = getattr(field_info.annotation, "__args__", ()) if field_info else ()
    names = [a for a in args if isinstance(a, str)]
    return ", ".join(f"`{n}`" for n in names) if names else "the listed choices"


# A keyword with at most this many choices lists them all in its hint when a value is no slip
# of the keyboard for one of them.
FEW_CHOICES = 8


def _value_hint(err: Any, schema: type[Params], key: str, values: dict[str, Any]) -> str | None:
    value = values.get(key)
    if err["type"] == "literal_error" and isinstance(value, str):
        field_info = schema.model_fields.get(key)
        args = [a for a in getattr(field_info.annotation, "__args__", ()) if isinstance(a, str)] if field_info else []
        slip = typo_of(value, args)
        if slip is not None:
            return f"did you mean `{slip}`?"
        if args and len(args) <= FEW_CHOICES:
            return "write one of " + ", ".join(f"`{key}={a}`" for a in args)
        return None
    if isinstance(value, str) and err["type"] in ("int_type", "float_type", "tuple_type"):
        return f"`{value}` is not a constant of this file; declare it with `const {value} = ...`"
    return None


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, CallValue):
        return f"`{value.name}(...)`"
    if isinstance(value, tuple):
        return "`[" + ", ".join(_show(v).strip("`") for v in value) + "]`"
    return f"`{value}`"


# --------------------------------------------------------------------------------------------
# Models used as distributions (docs/language.md, What the checker enforces)


def bind_model_use(
    model: Any,
    kwargs: tuple[KwArg, ...],
    span: Span,
    out: list[Diagnostic],
    after_tilde: bool,
    given: tuple[tuple[str, Any], ...] = (),
) -> Bound | None:
    """Bind a use of another model of the file as a distribution.

    After `~` its context (if it declares one) is bound by keyword (`h ~ Prior(c=t)`); as an
    op's encoder or decoder the op binds it, and no keyword is taken.
    """
    problem = unfit(model, span)
    if problem is not None:
        out.append(problem)
        return None
    entry = model_entry(model)
    if not after_tilde:
        if given:
            out.append(
                error(
                    codes.E203,
                    span,
                    f"`{model.name}` as an op's encoder or decoder takes no keywords: the op binds its context",
                    f"write `{model.name}` or `{model.name}()`",
                )
            )
            return None
        return Bound(entry, entry.params())
    values = {k.name: k.value for k in kwargs}
    params = validate(entry.params, model.name, values, span, {k.name: k for k in kwargs}, out)
    if params is None:
        return None
    if entry.context is not None and getattr(params, entry.context[0]) is None:
        name = entry.context[0]
        out.append(
            error(
                codes.E204,
                span,
                f"model `{model.name}` is conditioned on its context `{name}`: this use must say what it reads",
                f"add `{name}=TENSOR`",
            )
        )
        return None
    return Bound(entry, params)
