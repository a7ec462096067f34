"""Grades sprint6.dataloader: TODO, against what oracle."""

from grader import kata, target_module
from grader.checks import call_text, check_close, fail

dataloader = target_module("sprint6.dataloader")


@kata("default_collate")
class TestDefaultCollate:
    def test_contract(self):
        # Call the kata through `dataloader.default_collate`, compare with an oracle (torch's
        # own, or the maths in float64) and say what went wrong with grader.checks.
        raise AssertionError("sprint6.dataloader.default_collate: write its tests")


@kata("DataLoader")
class TestDataLoader:
    def test_contract(self):
        # Call the kata through `dataloader.DataLoader`, compare with an oracle (torch's
        # own, or the maths in float64) and say what went wrong with grader.checks.
        raise AssertionError("sprint6.dataloader.DataLoader: write its tests")


@kata("BucketBatchSampler")
class TestBucketBatchSampler:
    def test_contract(self):
        # Call the kata through `dataloader.BucketBatchSampler`, compare with an oracle (torch's
        # own, or the maths in float64) and say what went wrong with grader.checks.
        raise AssertionError("sprint6.dataloader.BucketBatchSampler: write its tests")
