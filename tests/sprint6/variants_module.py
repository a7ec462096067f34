"""Known mistakes and correct alternatives of sprint6.module."""

from grader.variants import alternative, mistake


@mistake("Parameter")
def Parameter_first_mistake(*args, **kwargs):
    """TODO: a realistic wrong implementation, described in words (never the fix)"""
    raise NotImplementedError("write a known mistake of Parameter")


@mistake("Parameter")
def Parameter_second_mistake(*args, **kwargs):
    """TODO: another realistic wrong implementation"""
    raise NotImplementedError("write a known mistake of Parameter")


@alternative("Parameter")
def Parameter_another_route(*args, **kwargs):
    """TODO: a correct implementation that takes another route than the reference"""
    raise NotImplementedError("write a correct alternative of Parameter")


@mistake("Module")
def Module_first_mistake(*args, **kwargs):
    """TODO: a realistic wrong implementation, described in words (never the fix)"""
    raise NotImplementedError("write a known mistake of Module")


@mistake("Module")
def Module_second_mistake(*args, **kwargs):
    """TODO: another realistic wrong implementation"""
    raise NotImplementedError("write a known mistake of Module")


@alternative("Module")
def Module_another_route(*args, **kwargs):
    """TODO: a correct implementation that takes another route than the reference"""
    raise NotImplementedError("write a correct alternative of Module")
