"""Known mistakes and correct alternatives, written down as code.

Each kata's tests come with a `tests/sprintN/variants_<module>.py` file:

    @mistake("split_heads")
    def view_without_transpose(x, n_heads):
        '''view straight to (B, nh, T, hs): each head gets a jumble of time steps'''
        B, T, C = x.shape
        return x.view(B, n_heads, T, C // n_heads)

    @alternative("split_heads")
    def with_unflatten_and_permute(x, n_heads): ...

A mistake is a realistic wrong implementation: the kata's tests must fail it. An
alternative is a correct one that takes another route than the reference: the
kata's tests must pass it. `tests/harness/test_variants.py` proves both for every
entry, and the grader uses the mistakes to tell a learner which one they made.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader import layout

KINDS = ("mistake", "alternative")


@dataclass(frozen=True)
class Variant:
    kata: str  # sprint1.tensors.split_heads
    kind: str  # "mistake" or "alternative"
    name: str  # the function's (or class's) name
    obj: Any  # what is patched in place of the kata
    description: str

    @property
    def id(self) -> str:
        return f"{self.kata}:{self.kind}:{self.name}"


_REGISTRY: dict[str, list[Variant]] = {}


def _module_id(python_module: str) -> str:
    """tests.sprint1.variants_tensors → sprint1.tensors"""
    module_id = layout.module_of(Path(*python_module.split(".")).with_suffix(".py"), ("variants",))
    if module_id is None:
        raise ValueError(
            f"variants live in tests/sprintN/variants_<module>.py, not {python_module}"
        )
    return module_id


def _register(kind: str, kata_name: str):
    def decorate(obj):
        description = " ".join((obj.__doc__ or "").split())
        if kind == "mistake" and not description:
            raise ValueError(f"mistake {obj.__name__} needs a docstring saying what is wrong")
        kata = f"{_module_id(obj.__module__)}.{kata_name}"
        entry = Variant(kata, kind, obj.__name__, obj, description or obj.__name__)
        found = _REGISTRY.setdefault(kata, [])
        if any(v.id == entry.id for v in found):
            raise ValueError(f"two variants named {entry.id}")
        found.append(entry)
        return obj

    return decorate


def mistake(kata_name: str):
    """Register a realistic wrong implementation of a kata; its tests must fail it."""
    return _register("mistake", kata_name)


def alternative(kata_name: str):
    """Register a correct implementation that differs from the reference; it must pass."""
    return _register("alternative", kata_name)


def load_module(module_id: str) -> None:
    """Import tests/sprintN/variants_<module>.py, if there is one."""
    name = layout.import_name(layout.harness_file("variants", module_id))
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise


def for_kata(kata: str) -> list[Variant]:
    load_module(kata.rsplit(".", 1)[0])
    return list(_REGISTRY.get(kata, []))


def all_for_sprint(sprint: str, modules: list[str]) -> list[Variant]:
    found = []
    for module in modules:
        load_module(f"{sprint}.{module}")
        prefix = f"{sprint}.{module}."
        for kata, entries in _REGISTRY.items():
            if kata.startswith(prefix):
                found.extend(entries)
    return found
