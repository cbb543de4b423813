import pytest
import torch
from torch import nn

import survae_dsl.nn as snn


@pytest.mark.parametrize(
    "activation,kind", [("relu", nn.ReLU), ("gelu", nn.GELU), ("tanh", nn.Tanh)]
)
def test_mlp_layout(activation, kind):
    net = snn.MLP(6, 4, hidden=(200, 100), activation=activation)
    widths = [(m.in_features, m.out_features) for m in net.modules() if isinstance(m, nn.Linear)]
    assert widths == [(6, 200), (200, 100), (100, 4)]
    assert sum(isinstance(m, kind) for m in net.modules()) == 2


def test_mlp_flattens_its_input_and_starts_at_zero():
    net = snn.MLP(6, 4).double()
    out = net(torch.randn(5, 2, 3, dtype=torch.float64))
    assert out.shape == (5, 4)
    assert torch.equal(out, torch.zeros(5, 4, dtype=torch.float64))


def test_mlp_hidden_layers_are_random():
    net = snn.MLP(3, 2, hidden=(8,))
    assert net.layers[0].weight.abs().sum() > 0


def test_mlp_without_hidden_layers_is_one_linear_map():
    net = snn.MLP(3, 2, hidden=())
    assert len(net.layers) == 1 and net(torch.randn(4, 3)).shape == (4, 2)


def test_mlp_rejects_an_unknown_activation():
    with pytest.raises(ValueError, match="activation"):
        snn.MLP(3, 2, hidden=(), activation="swish")
