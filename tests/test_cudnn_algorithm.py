"""PyTorch's rule for which cuDNN RNN algorithm a call gets, encoded in cells/cudnn_algorithm.py, case by case."""

import pytest
import torch

from rnnlab.cells import ENGINES
from rnnlab.cells.cudnn_algorithm import Call, Device, algorithm, describe

H200 = Device(major=9, minor=0, sms=132, cudnn_version=91002)
SMALL = "PERSIST_STATIC_SMALL_H"


@pytest.mark.parametrize(
    ("call", "forward", "expected"),
    [
        (Call("lstm", 16, 784, 28, 128, "float32"), True, SMALL),
        (Call("lstm", 16, 784, 28, 128, "float32"), False, SMALL),  # <= 128 backward too
        (Call("lstm", 16, 784, 28, 192, "float32"), True, SMALL),
        (Call("lstm", 16, 784, 28, 192, "float32"), False, "STANDARD"),  # > 128 backward
        (Call("lstm", 16, 784, 28, 193, "float32"), True, "STANDARD"),
        (Call("lstm", 128, 28, 28, 256, "float32"), True, "STANDARD"),  # the B=128 H=256 goal shape
        (Call("gru", 16, 784, 28, 128, "bfloat16"), True, SMALL),  # any dtype but float64
        (Call("lstm", 16, 784, 28, 128, "float64"), True, "STANDARD"),
        (Call("rnn", 16, 784, 28, 384, "float32"), True, SMALL),
        (Call("rnn", 16, 784, 28, 384, "float32"), False, "STANDARD"),  # > 256 backward
        (Call("lstm", 16, 784, 28, 128, "float32", packed=True), True, "STANDARD"),  # variable lengths
        (Call("lstm", 16, 784, 28, 128, "float32", proj_size=64), True, "STANDARD"),
        (Call("lstm", 64, 50, 256, 256, "float16"), True, "PERSIST_STATIC"),  # half: the older heuristics
        (Call("gru", 64, 50, 256, 256, "float16"), True, "STANDARD"),  # ... which leave GRU out
        (Call("lstm", 64, 50, 256, 256, "float16", bidirectional=True), True, "STANDARD"),
        (Call("lstm", 136, 50, 256, 256, "float16"), True, "STANDARD"),  # batch > 128
    ],
)
def test_the_algorithm_pytorch_asks_cudnn_for(call, forward, expected) -> None:
    assert algorithm(call, H200, forward) == expected


def test_older_cudnn_and_older_gpus_get_the_standard_algorithm() -> None:
    call = Call("lstm", 16, 784, 28, 128, "float32")
    assert algorithm(call, Device(9, 0, 132, cudnn_version=8200), True) == "STANDARD"
    assert algorithm(call, Device(5, 2, 24, cudnn_version=8902), True) == "STANDARD"
    half = Call("lstm", 64, 50, 256, 256, "float16")
    assert algorithm(half, Device(8, 6, 84, 8902), True) == "STANDARD"  # sm_86
    assert algorithm(half, Device(7, 5, 40, 8902), True) == "STANDARD"  # Turing


def test_a_timing_says_both_directions() -> None:
    assert describe(Call("lstm", 16, 784, 28, 192, "float32"), H200) == f"cuDNN {SMALL} forward, STANDARD backward"
    assert describe(Call("lstm", 16, 784, 28, 128, "float32"), H200) == f"cuDNN {SMALL} forward and backward"


def test_the_cudnn_engine_names_no_algorithm_on_a_cpu() -> None:
    assert ENGINES["cudnn"].variant("lstm", 16, 128, torch.float32, torch.device("cpu")) is None
