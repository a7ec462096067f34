"""`python -m grader.child ARGS`: the grading child, `python -m pytest ARGS` with Python's
cyclic garbage collector held off until the tests are collected.

Importing torch, pytest and the tests makes over half a million objects that live as
long as the process, and almost no garbage: ~9,000 objects in cycles. Each full
collection during those imports walks every object made so far, which costs ~0.15 s of
a grade's ~1.4 s. grader.plugin.isolation freezes what the imports made (`gc.freeze`:
later collections skip it) and turns the collector back on once collection is done,
before any learner code runs, so graded code runs with the collector as usual.
"""

import gc
import sys

gc.disable()  # first: nothing has been imported yet but what the interpreter needs

import pytest  # noqa: E402

sys.exit(pytest.console_main())
