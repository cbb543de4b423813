"""`Embed` (the context net `embed`) as maths: a reshaped net output, zero at construction."""

from __future__ import annotations

import torch

from survae_dsl.nn import MLP, ConvNet, Embed


def test_an_mlp_embedding_is_its_net_reshaped() -> None:
    torch.manual_seed(0)
    embed = Embed((1,), (2, 3), MLP(1, 6, hidden=(8,))).double()
    c = torch.randn(5, 1, dtype=torch.float64)
    assert torch.equal(embed(c), torch.zeros(5, 2, 3, dtype=torch.float64)), "the last layer starts at zero"
    for p in embed.parameters():
        torch.nn.init.normal_(p)
    assert torch.allclose(embed(c), embed.net(c).reshape(5, 2, 3))
    # a map of each row alone: the same rows give the same features in any batch (to rounding:
    # the matrix product's kernel, and so its summation order, may depend on the batch size)
    torch.testing.assert_close(embed(c[:2]), embed(c)[:2], rtol=0, atol=1e-12)


def test_a_convolutional_embedding_keeps_space() -> None:
    torch.manual_seed(0)
    embed = Embed((1, 4, 4), (3, 4, 4), ConvNet(1, 3, hidden=4, layers=2, kernel=3, spatial_dims=2))
    for p in embed.parameters():
        torch.nn.init.normal_(p)
    c = torch.randn(2, 1, 4, 4)
    out = embed(c)
    assert out.shape == (2, 3, 4, 4)
    # a 3×3 'same' convolution stack of depth 2 sees a 5×5 window: a far corner cannot move (0, 0)
    moved = c.clone()
    moved[:, :, 3, 3] += 10.0
    assert torch.allclose(embed(moved)[:, :, 0, 0], out[:, :, 0, 0])


def test_parameters_are_the_nets() -> None:
    net = MLP(4, 8, hidden=(16,))
    embed = Embed((4,), (8,), net)
    assert sum(p.numel() for p in embed.parameters()) == sum(p.numel() for p in net.parameters())
