"""'Did you mean' suggestions for misspelt names."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate most like `name`, if one is close enough to be a likely typo."""
    matches = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A hint sentence, or None."""
    match = closest(name, candidates)
    return f"did you mean `{match}`?" if match else None


def typo_of(value: str, choices: Iterable[str]) -> str | None:
    """The one choice that `value` looks like a slip of the keyboard for, if there is one.

    Stricter than `closest`, for values picked from a short list (`activation=`, `scale=`),
    where another real name differs from a choice by a letter (`elu` is not a misspelt
    `relu`): a slip is the same name but for case or `-` for `_`, one letter added, dropped,
    changed or two neighbours swapped after an unchanged first letter, or the start (three
    letters or more) of one choice only (`tanh` for `tanh_exp`).
    """
    typed = _plain(value)
    options = sorted(set(choices))
    slips = [c for c in options if _plain(c) == typed]
    slips = slips or [c for c in options if _one_slip(typed, _plain(c))]
    if not slips and len(typed) >= 3:
        slips = [c for c in options if _plain(c).startswith(typed)]
    return slips[0] if len(slips) == 1 else None


def _plain(name: str) -> str:
    return name.lower().replace("-", "_")


def _one_slip(typed: str, choice: str) -> bool:
    """One letter added, dropped, changed, or two neighbours swapped, the first letter kept."""
    if not typed or not choice or typed[0] != choice[0] or typed == choice:
        return False
    if len(typed) == len(choice):
        diffs = [i for i, (a, b) in enumerate(zip(typed, choice, strict=True)) if a != b]
        if len(diffs) == 1:
            return True
        i = diffs[0]
        return len(diffs) == 2 and diffs[1] == i + 1 and (typed[i], typed[i + 1]) == (choice[i + 1], choice[i])
    if abs(len(typed) - len(choice)) != 1:
        return False
    short, long = sorted((typed, choice), key=len)
    return any(long[:i] + long[i + 1 :] == short for i in range(1, len(long)))
