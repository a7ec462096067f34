"""Sprint 2 uses torchvision's transforms and datasets, never its models or detection ops:
those are deferred (grader.deferred), which keeps torch._dynamo out of the grading run."""

from grader import deferred

deferred.install()
