"""rnnlab's CPU dropout: the distribution F.dropout promises, an exact gradient, identity in eval mode."""

import pytest
import torch

from rnnlab.model.dropout import Dropout


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_keeps_one_minus_p_and_scales_the_survivors(p: float) -> None:
    torch.manual_seed(0)
    x = torch.ones(400, 1000)
    y = Dropout(p).train()(x)
    kept = y != 0
    assert torch.allclose(y[kept], torch.full_like(y[kept], 1 / (1 - p)))
    # 400k Bernoulli draws: the kept share is within 5 standard deviations of 1 - p
    assert abs(kept.float().mean().item() - (1 - p)) < 5 * ((p * (1 - p) / x.numel()) ** 0.5)
    assert abs(y.mean().item() - 1.0) < 0.01  # unbiased


def test_gradient_is_the_mask_and_eval_is_identity() -> None:
    torch.manual_seed(1)
    drop = Dropout(0.5).train()
    x = torch.randn(64, 32, requires_grad=True)
    y = drop(x)
    y.sum().backward()
    assert torch.equal(x.grad, (y != 0).float() * 2.0)
    drop.eval()
    assert drop(x) is x


def test_masks_follow_the_global_seed_and_bf16_keeps_its_dtype() -> None:
    x = torch.randn(8, 16, dtype=torch.bfloat16)
    torch.manual_seed(3)
    a = Dropout(0.3)(x)
    torch.manual_seed(3)
    b = Dropout(0.3)(x)
    assert a.dtype == torch.bfloat16 and torch.equal(a, b)


def test_rejects_a_probability_outside_zero_one() -> None:
    with pytest.raises(ValueError, match="dropout probability"):
        Dropout(1.0)
