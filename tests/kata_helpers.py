"""What the graded tests (tests/sprintN/test_<module>.py) share.

- `kata_call`: the text of a call to the kata under test, the `where` that starts each
  failure message. It knows the kata from the running test's `@kata` mark and the module
  from the test file (tests/conftest.py tells it which test runs):

      @kata("split_heads")
      class TestSplitHeads:
          def test_not_divisible(self):
              x = seeded(2, 5, 10)
              where = kata_call(x, n_heads=3)
              # 'sprint1.tensors.split_heads(x (2, 5, 10) float32 cpu, n_heads=3)'

  `kata_call.then(".generate")(idx, 5)` names a method or a step after the kata's name
  ('sprint5.gpt.GPT.generate(...)'), and `kata_call.name` is the kata's id alone.

What these build is what a learner reads, and the grader names a known mistake by
finding the very same message from the mistake's run: the text must not change from one
run to the next.
"""

from __future__ import annotations

from grader.checks import call_text

# --- the kata under test ----------------------------------------------------------------

_current: list[str] = []  # the id of the kata whose test runs now (set by tests/conftest.py)


def enter_kata(kata_id: str | None) -> None:
    _current[:] = [kata_id] if kata_id else []


class KataCall:
    """`kata_call(*args, **kwargs)`: the call to the running test's kata, as text."""

    def __init__(self, suffix: str = ""):
        self._suffix = suffix

    @property
    def name(self) -> str:
        """sprint1.tensors.split_heads, for the test that runs now (plus any suffix)."""
        if not _current:
            raise RuntimeError(
                "kata_call is known only while a graded test runs (a test marked @kata in "
                "tests/sprintN/test_<module>.py)"
            )
        return _current[0] + self._suffix

    def __call__(self, /, *args, **kwargs) -> str:
        return call_text(self.name, args, kwargs)

    def then(self, text: str) -> KataCall:
        """The call of something named after the kata: then(".generate") for a method,
        then("('abc').encode") for a method of an instance built with those arguments."""
        return KataCall(self._suffix + text)


kata_call = KataCall()
