"""What --threads 0 means for training on CPU: one thread for steps too small to share, every core otherwise."""

from __future__ import annotations

from rnnlab.runtime.device import SMALL_STEP, training_threads


def test_small_steps_take_one_thread_and_the_rest_every_core() -> None:
    assert SMALL_STEP == 32_768  # ATen's grain size: element-wise work under it runs on one thread anyway
    assert training_threads("lstm", 32, 128) == 1  # the digits default: 32 x 512 gate activations a step
    assert training_threads("lstm", 128, 256) == 0  # the MNIST default: PyTorch's own count
    assert training_threads("lstm", 128, 64) == 0 and training_threads("gru", 32, 128) == 1
    assert training_threads("rnn", 128, 255) == 1 and training_threads("rnn", 128, 256) == 0
