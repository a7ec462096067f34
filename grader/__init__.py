"""The torch-katas grading harness.

Two halves, kept apart on purpose:

* the trusted parent (`grader.cli`, `grader.runner`, `grader.report`, `grader.catalog`,
  and the learner's other commands) uses the standard library only, never imports torch
  or learner code, and survives whatever the learner's code does;
* the pytest child (the `grader.plugin` package, `grader.target`, `grader.checks`,
  `grader.guard`, `grader.audit`, `grader.variants`) imports the target tree, runs the
  tests and streams one result per test back.

Both take what they share from `grader.layout`: where each file lives, the statuses, the
default time limit and the message cap.

Tests use `kata`, `target_module` and the helpers in `grader.checks`.
"""

from grader.catalog import kata
from grader.target import target_module

__all__ = ["kata", "target_module"]
