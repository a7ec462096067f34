"""Known mistakes and correct alternatives of sprint7.ddp."""

from grader.variants import alternative, mistake


@mistake("all_reduce_grads")
def all_reduce_grads_first_mistake(*args, **kwargs):
    """TODO: a realistic wrong implementation, described in words (never the fix)"""
    raise NotImplementedError("write a known mistake of all_reduce_grads")


@mistake("all_reduce_grads")
def all_reduce_grads_second_mistake(*args, **kwargs):
    """TODO: another realistic wrong implementation"""
    raise NotImplementedError("write a known mistake of all_reduce_grads")


@alternative("all_reduce_grads")
def all_reduce_grads_another_route(*args, **kwargs):
    """TODO: a correct implementation that takes another route than the reference"""
    raise NotImplementedError("write a correct alternative of all_reduce_grads")


@mistake("ddp_train_step")
def ddp_train_step_first_mistake(*args, **kwargs):
    """TODO: a realistic wrong implementation, described in words (never the fix)"""
    raise NotImplementedError("write a known mistake of ddp_train_step")


@mistake("ddp_train_step")
def ddp_train_step_second_mistake(*args, **kwargs):
    """TODO: another realistic wrong implementation"""
    raise NotImplementedError("write a known mistake of ddp_train_step")


@alternative("ddp_train_step")
def ddp_train_step_another_route(*args, **kwargs):
    """TODO: a correct implementation that takes another route than the reference"""
    raise NotImplementedError("write a correct alternative of ddp_train_step")
