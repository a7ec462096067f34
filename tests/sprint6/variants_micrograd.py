"""Known mistakes and correct alternatives of sprint6.micrograd."""

from grader.variants import alternative, mistake


@mistake("Value")
def Value_first_mistake(*args, **kwargs):
    """TODO: a realistic wrong implementation, described in words (never the fix)"""
    raise NotImplementedError("write a known mistake of Value")


@mistake("Value")
def Value_second_mistake(*args, **kwargs):
    """TODO: another realistic wrong implementation"""
    raise NotImplementedError("write a known mistake of Value")


@alternative("Value")
def Value_another_route(*args, **kwargs):
    """TODO: a correct implementation that takes another route than the reference"""
    raise NotImplementedError("write a correct alternative of Value")
