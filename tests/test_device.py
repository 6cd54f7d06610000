"""What --threads 0 means for training on CPU: one thread for steps too small to share, every core otherwise."""

from __future__ import annotations

from rnnlab.runtime.device import SMALL_STEP, training_threads


def test_small_steps_take_one_thread_and_the_rest_every_core() -> None:
    assert SMALL_STEP == 32_768  # ATen's grain size: element-wise work under it runs on one thread anyway
    assert training_threads("lstm", 32, 128) == 1  # the digits default: 32 x 512 gate activations a step
    assert training_threads("lstm", 128, 256) == 0  # the MNIST default: PyTorch's own count
    assert training_threads("lstm", 128, 64) == 0 and training_threads("gru", 32, 128) == 1
    assert training_threads("rnn", 128, 255) == 1 and training_threads("rnn", 128, 256) == 0


def test_training_takes_the_rule_only_where_no_thread_count_was_given(tmp_path, digits) -> None:
    from dataclasses import replace

    import torch

    from rnnlab.config import DataConfig, ModelConfig, RunConfig, RuntimeConfig, TrainConfig
    from rnnlab.train.loop import fit
    from rnnlab.train.results import NullReporter

    class Start(NullReporter):
        said: list[str] = []

        def start(self, total_steps: int, done_steps: int, epochs: int, description: str) -> None:
            self.said.append(description)

    before = torch.get_num_threads()
    for threads in (0, 2):
        cfg = RunConfig(
            ModelConfig(input_size=8, hidden=(8,), layers=1), DataConfig(dataset="digits"),
            replace(TrainConfig(), epochs=1, max_steps=2), RuntimeConfig(device="cpu", threads=threads),
        )  # fmt: skip
        fit(cfg, tmp_path / str(threads), Start(), data=digits)
        assert torch.get_num_threads() == before  # fit gives the process its own count back
    assert Start.said[0].endswith("(cudnn, cpu, 1 thread)") and Start.said[1].endswith("(cudnn, cpu, 2 threads)")
