"""Known mistakes and correct alternatives of sprint7.kv_cache."""

from grader.variants import alternative, mistake


@mistake("generate_cached")
def generate_cached_first_mistake(*args, **kwargs):
    """TODO: a realistic wrong implementation, described in words (never the fix)"""
    raise NotImplementedError("write a known mistake of generate_cached")


@mistake("generate_cached")
def generate_cached_second_mistake(*args, **kwargs):
    """TODO: another realistic wrong implementation"""
    raise NotImplementedError("write a known mistake of generate_cached")


@alternative("generate_cached")
def generate_cached_another_route(*args, **kwargs):
    """TODO: a correct implementation that takes another route than the reference"""
    raise NotImplementedError("write a correct alternative of generate_cached")
