"""The pytest half of the grader: kata marks, target imports, isolation and results.

Loaded for every pytest run of this project (`addopts = -p grader.plugin`). On its own
it makes plain `pytest` safe against learner code; with `--kata-events` it also
streams one JSON line per event to a file that the trusted parent (`grader.runner`)
reads, which is how `nox -s grade` survives a child that hangs or dies.

Per test, in order:
1. the kata's target module is imported (an import that fails, hangs, exits or
   interrupts costs the tests of that module, nothing else);
2. global state is reset: default dtype and device, grad mode, anomaly mode,
   thread count, seeds, cwd;
3. the test runs under a time limit (SIGALRM where there is one);
4. escapes from learner code (`sys.exit`, `KeyboardInterrupt`, `pytest.skip`,
   `pytest.exit`) become ordinary errors of that test;
5. the outcome is classified as passed, failed, not_started, error or timeout.

One module a job:

* `state`: what a session keeps, and the JSON-lines event stream to the parent;
* `collection`: the options, the kata marks and the manifest (kata ids, time limits,
  forbidden calls), which tests are selected, the "collected" event;
* `isolation`: the target imported, globals reset and checked, the forbidden-call
  guard (steps 1, 2 and 4), from the test's phases;
* `settings`: the global state a kata might change (torch's settings and seeds, the
  import system), kept and put back;
* `namespaces`: the functions and classes the checks rely on, kept and put back;
* `escapes`: the time limit, and escapes made errors (steps 3 and 4);
* `outcomes`: a test's status and message from its reports (step 5);
* `diagnosis`: the known mistakes and alternatives run in a kata's place;
* `protocol`: one test from "start" to "result", and the end of the session.

The five with hooks are pytest plugins of their own: pytest registers the modules that
a plugin module names in `pytest_plugins` along with it, so `-p grader.plugin` brings
them all in (`state`, `settings`, `namespaces` and `escapes` have no hooks; the others
import them). They are imported here too, so that importing this package, as
grader.forkserver does ahead of its forks, loads all of the plugin's code.
"""

from grader.plugin import collection, diagnosis, isolation, outcomes, protocol

pytest_plugins = [m.__name__ for m in (collection, isolation, outcomes, diagnosis, protocol)]
