"""Run a test again with a known mistake or a correct alternative in the kata's place.

Each kata's `tests/sprintN/variants_<module>.py` (grader.variants) holds realistic
mistakes and correct alternatives. Two uses:

* `--kata-variants FILE` runs every graded test once more per variant of its kata and
  writes what each gave to FILE (tests/harness/test_variants.py proves from it that the
  tests catch every mistake and pass every alternative);
* on a kata's first failure (`--kata-diagnose`, and always under `--kata-events`),
  `diagnose` names the known mistake that fails the test with the learner's very
  message, or says that a correct version fails the same way.
"""

from __future__ import annotations

import json
import time

from grader import target
from grader.plugin.collection import time_limit
from grader.plugin.escapes import TimeLimit
from grader.plugin.outcomes import summarize
from grader.plugin.state import STATE

DIAGNOSIS_BUDGET = 8.0  # seconds of re-runs to name a known mistake, per kata


def _run_again(item, nextitem) -> list:
    """The reports of one more unlogged run of the item: setup, call and teardown.

    pytest has no public way to run an item again outside its own protocol; this is the
    one private call of the plugin (hence pytest's pin to one major version in
    pyproject.toml). The run is not logged: the terminal and the parent see only the
    real run, which grader.plugin.protocol leaves to pytest's own protocol."""
    from _pytest.runner import runtestprotocol

    return runtestprotocol(item, nextitem=nextitem, log=False)


def run_variant(item, nextitem, variant) -> tuple[str, str]:
    """(status, message) of the test with `variant` patched in for its kata."""
    module = target.load(variant.kata.rsplit(".", 1)[0])
    name = variant.kata.rsplit(".", 1)[1]
    original = getattr(module, name)
    setattr(module, name, variant.obj)
    try:
        with TimeLimit(time_limit(item)):
            return summarize(_run_again(item, nextitem))
    finally:
        setattr(module, name, original)


def run_variants(item, nextitem, kid) -> None:
    """--kata-variants: the test once per variant of its kata, recorded for the file."""
    from grader import variants

    state = item.config.stash[STATE]
    for variant in variants.for_kata(kid):
        status, message = run_variant(item, nextitem, variant)
        entry = state.variant_results.setdefault(
            variant.id, {"kata": kid, "kind": variant.kind, "tests": {}}
        )
        entry["tests"][item.nodeid] = {"status": status, "message": message}


def write_variants(config) -> None:
    state = config.stash[STATE]
    if state.variants_out is not None:
        state.variants_out.write_text(json.dumps(state.variant_results, indent=1))


def diagnose(item, nextitem, kid, message) -> str:
    """What the known variants say about this failure, as text to append, or "".

    A correct alternative that fails the same way means the cause lies outside the kata
    (in a kata it builds on); otherwise a known mistake is named only when it is the one
    mistake that fails this test with this very message. Nothing is said when the
    mistakes could not all be tried within the budget."""
    from grader import variants

    try:
        target.load(kid.rsplit(".", 1)[0])  # a module that cannot import has nothing to patch
        known = variants.for_kata(kid)
    except BaseException:
        return ""
    started = time.monotonic()

    def same(variant) -> bool:
        try:
            return run_variant(item, nextitem, variant)[1] == message
        except BaseException:
            return False

    correct = next((v for v in known if v.kind == "alternative"), None)
    if correct is not None and same(correct):
        return (
            f"A correct {kid.rsplit('.', 1)[1]} fails this test the same way here, so the cause "
            "is probably in code it builds on: check the katas it uses first."
        )
    matching = []
    for variant in (v for v in known if v.kind == "mistake"):
        if time.monotonic() - started > DIAGNOSIS_BUDGET:
            return ""
        if same(variant):
            matching.append(variant)
    if len(matching) != 1:
        return ""
    return f"This is exactly what a known mistake gives: {matching[0].description}"


def without_common_cause(message: str) -> str:
    """The message less its generic "A common cause" line, which a named mistake replaces."""
    return "\n".join(
        line for line in message.splitlines() if not line.lstrip().startswith("A common cause:")
    )
