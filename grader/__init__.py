"""The torch-katas grading harness.

Two halves, kept apart on purpose:

* the trusted parent (`grader.cli`, `grader.runner`, `grader.report`, `grader.catalog`,
  and the learner's other commands) uses the standard library only, never imports torch
  or learner code, and survives whatever the learner's code does;
* the pytest child (`grader.child`, its entry point, the `grader.plugin` package,
  `grader.target`, `grader.checks`, `grader.guard`, `grader.audit`, `grader.variants`)
  imports the target tree, runs the tests and streams one result per test back.

Both take what they share from `grader.layout`: where each file lives, the statuses, the
default time limit and the message cap.

Tests use `kata`, `target_module` and the helpers in `grader.checks`.
"""

__all__ = ["kata", "target_module"]


def __getattr__(name: str):
    """`kata` and `target_module` load on first use: the parent, which never needs
    grader.target, starts its grading child that much sooner."""
    if name == "kata":
        from grader.catalog import kata

        return kata
    if name == "target_module":
        from grader.target import target_module

        return target_module
    raise AttributeError(f"module 'grader' has no attribute {name!r}")
