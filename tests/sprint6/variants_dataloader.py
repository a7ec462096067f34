"""Known mistakes and correct alternatives of sprint6.dataloader."""

from grader.variants import alternative, mistake


@mistake("default_collate")
def default_collate_first_mistake(*args, **kwargs):
    """TODO: a realistic wrong implementation, described in words (never the fix)"""
    raise NotImplementedError("write a known mistake of default_collate")


@mistake("default_collate")
def default_collate_second_mistake(*args, **kwargs):
    """TODO: another realistic wrong implementation"""
    raise NotImplementedError("write a known mistake of default_collate")


@alternative("default_collate")
def default_collate_another_route(*args, **kwargs):
    """TODO: a correct implementation that takes another route than the reference"""
    raise NotImplementedError("write a correct alternative of default_collate")


@mistake("DataLoader")
def DataLoader_first_mistake(*args, **kwargs):
    """TODO: a realistic wrong implementation, described in words (never the fix)"""
    raise NotImplementedError("write a known mistake of DataLoader")


@mistake("DataLoader")
def DataLoader_second_mistake(*args, **kwargs):
    """TODO: another realistic wrong implementation"""
    raise NotImplementedError("write a known mistake of DataLoader")


@alternative("DataLoader")
def DataLoader_another_route(*args, **kwargs):
    """TODO: a correct implementation that takes another route than the reference"""
    raise NotImplementedError("write a correct alternative of DataLoader")


@mistake("BucketBatchSampler")
def BucketBatchSampler_first_mistake(*args, **kwargs):
    """TODO: a realistic wrong implementation, described in words (never the fix)"""
    raise NotImplementedError("write a known mistake of BucketBatchSampler")


@mistake("BucketBatchSampler")
def BucketBatchSampler_second_mistake(*args, **kwargs):
    """TODO: another realistic wrong implementation"""
    raise NotImplementedError("write a known mistake of BucketBatchSampler")


@alternative("BucketBatchSampler")
def BucketBatchSampler_another_route(*args, **kwargs):
    """TODO: a correct implementation that takes another route than the reference"""
    raise NotImplementedError("write a correct alternative of BucketBatchSampler")
