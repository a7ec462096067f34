"""Grades sprint7.quantization: TODO, against what oracle."""

from grader import kata, target_module
from grader.checks import call_text, check_close, fail

quantization = target_module("sprint7.quantization")


@kata("quantize_int8")
class TestQuantizeInt8:
    def test_contract(self):
        # Call the kata through `quantization.quantize_int8`, compare with an oracle (torch's
        # own, or the maths in float64) and say what went wrong with grader.checks.
        raise AssertionError("sprint7.quantization.quantize_int8: write its tests")


@kata("dequantize_int8")
class TestDequantizeInt8:
    def test_contract(self):
        # Call the kata through `quantization.dequantize_int8`, compare with an oracle (torch's
        # own, or the maths in float64) and say what went wrong with grader.checks.
        raise AssertionError("sprint7.quantization.dequantize_int8: write its tests")


@kata("quantize_q4_0")
class TestQuantizeQ40:
    def test_contract(self):
        # Call the kata through `quantization.quantize_q4_0`, compare with an oracle (torch's
        # own, or the maths in float64) and say what went wrong with grader.checks.
        raise AssertionError("sprint7.quantization.quantize_q4_0: write its tests")


@kata("dequantize_q4_0")
class TestDequantizeQ40:
    def test_contract(self):
        # Call the kata through `quantization.dequantize_q4_0`, compare with an oracle (torch's
        # own, or the maths in float64) and say what went wrong with grader.checks.
        raise AssertionError("sprint7.quantization.dequantize_q4_0: write its tests")


@kata("Int8Linear")
class TestInt8Linear:
    def test_contract(self):
        # Call the kata through `quantization.Int8Linear`, compare with an oracle (torch's
        # own, or the maths in float64) and say what went wrong with grader.checks.
        raise AssertionError("sprint7.quantization.Int8Linear: write its tests")
