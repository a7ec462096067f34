"""Known mistakes and correct alternatives of sprint7.mixed_precision."""

from grader.variants import alternative, mistake


@mistake("autocast_train_step")
def autocast_train_step_first_mistake(*args, **kwargs):
    """TODO: a realistic wrong implementation, described in words (never the fix)"""
    raise NotImplementedError("write a known mistake of autocast_train_step")


@mistake("autocast_train_step")
def autocast_train_step_second_mistake(*args, **kwargs):
    """TODO: another realistic wrong implementation"""
    raise NotImplementedError("write a known mistake of autocast_train_step")


@alternative("autocast_train_step")
def autocast_train_step_another_route(*args, **kwargs):
    """TODO: a correct implementation that takes another route than the reference"""
    raise NotImplementedError("write a correct alternative of autocast_train_step")
