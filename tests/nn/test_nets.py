import pytest
import torch
from torch import nn

import survae_dsl.nn as snn
from survae_dsl.nn.nets import ConvNet, ResNet, Transformer

from .helpers import compiled_fullgraph


@pytest.mark.parametrize("activation,kind", [("relu", nn.ReLU), ("gelu", nn.GELU), ("tanh", nn.Tanh)])
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


# --- ConvNet, ResNet, Transformer -------------------------------------------------------------

F64 = torch.float64


def _conv_net(spatial_dims, **options):
    return ConvNet(3, 4, hidden=8, spatial_dims=spatial_dims, **options).double()


def _res_net(spatial_dims):
    return ResNet(3, 4, hidden=8, blocks=2, spatial_dims=spatial_dims).double()


def _transformer(positional=False, in_features=3):
    return Transformer(in_features, 4, dim=8, heads=2, layers=2, positional=positional, length=5).double()


def _perturb_last_layer(net, scale=0.5):
    last = [m for m in net.modules() if isinstance(m, nn.Linear | nn.Conv1d | nn.Conv2d)][-1]
    with torch.no_grad():
        last.weight.normal_(0.0, scale)
        last.bias.normal_(0.0, scale)
    return net


# name → (a fresh net with 3 input and 4 output channels/features, an input batch of 2).
NETS = {
    "conv1d": (lambda: _conv_net(1), lambda: torch.randn(2, 3, 7, dtype=F64)),
    "conv2d": (lambda: _conv_net(2), lambda: torch.randn(2, 3, 5, 6, dtype=F64)),
    "resnet_dense": (lambda: _res_net(0), lambda: torch.randn(2, 3, dtype=F64)),
    "resnet1d": (lambda: _res_net(1), lambda: torch.randn(2, 3, 7, dtype=F64)),
    "resnet2d": (lambda: _res_net(2), lambda: torch.randn(2, 3, 5, 6, dtype=F64)),
    "transformer": (lambda: _transformer(), lambda: torch.randn(2, 3, 5, dtype=F64)),
    "transformer_positional": (lambda: _transformer(True), lambda: torch.randn(2, 3, 5, dtype=F64)),
}


def _output_shape(x):
    return (x.shape[0], 4, *x.shape[2:])


@pytest.mark.parametrize("name", NETS)
def test_nets_start_at_exactly_zero_with_the_output_shape(name):
    make, data = NETS[name]
    x = data()
    out = make()(x)
    assert out.shape == _output_shape(x) and out.dtype == F64
    assert torch.equal(out, torch.zeros_like(out))


@pytest.mark.parametrize("name", NETS)
def test_gradients_reach_every_parameter_once_the_last_layer_moves(name):
    make, data = NETS[name]
    net = _perturb_last_layer(make())
    out = net(data())
    assert out.abs().sum() > 0
    out.square().sum().backward()
    for parameter_name, parameter in net.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, parameter_name


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("kernel", [1, 2, 3, 5])
@pytest.mark.parametrize("spatial", [(7,), (4, 5)])
def test_conv_net_keeps_the_spatial_shape(kernel, spatial):
    net = _perturb_last_layer(ConvNet(3, 4, hidden=8, layers=3, kernel=kernel, spatial_dims=len(spatial)).double())
    assert net(torch.randn(2, 3, *spatial, dtype=F64)).shape == (2, 4, *spatial)
    convolutions = [m for m in net.modules() if isinstance(m, nn.Conv1d | nn.Conv2d)]
    assert [c.kernel_size for c in convolutions] == [(kernel,) * len(spatial)] * 3


def test_conv_net_layout():
    net = ConvNet(3, 4, hidden=16, layers=3)
    widths = [(m.in_channels, m.out_channels) for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert widths == [(3, 16), (16, 16), (16, 4)]
    assert sum(isinstance(m, nn.ReLU) for m in net.modules()) == 2
    single = ConvNet(3, 4, layers=1)
    assert [type(m) for m in single.layers] == [nn.Conv2d]


@pytest.mark.parametrize("make", [lambda: ConvNet(5, 4, hidden=8), lambda: ResNet(5, 4, hidden=8)])
def test_spatial_nets_concatenate_a_context_on_channels(make):
    net = _perturb_last_layer(make().double())
    x, context = torch.randn(2, 3, 4, 5, dtype=F64), torch.randn(2, 2, 4, 5, dtype=F64)
    out = net(x, context)
    assert out.shape == (2, 4, 4, 5)
    torch.testing.assert_close(out, net(torch.cat([x, context], dim=1)))


@pytest.mark.parametrize(
    "make,spatial",
    [
        (lambda: ConvNet(5, 4, hidden=8, spatial_dims=1), (6,)),
        (lambda: ConvNet(5, 4, hidden=8), (4, 5)),
        (lambda: ResNet(5, 4, hidden=8, spatial_dims=1), (6,)),
        (lambda: ResNet(5, 4, hidden=8), (4, 5)),
    ],
)
def test_spatial_nets_broadcast_a_flat_context_over_space(make, spatial):
    net = _perturb_last_layer(make().double())
    x, context = torch.randn(2, 3, *spatial, dtype=F64), torch.randn(2, 2, dtype=F64)
    broadcast = context.reshape(2, 2, *([1] * len(spatial))).expand(2, 2, *spatial)
    torch.testing.assert_close(net(x, context), net(torch.cat([x, broadcast], dim=1)))


def test_dense_resnet_appends_the_context_flat():
    net = _perturb_last_layer(ResNet(7, 4, hidden=8, spatial_dims=0).double())
    x, context = torch.randn(2, 2, 2, dtype=F64), torch.randn(2, 3, dtype=F64)
    out = net(x, context)
    assert out.shape == (2, 4)
    torch.testing.assert_close(out, net(torch.cat([x.reshape(2, 4), context], dim=1)))


def test_dense_resnet_layout():
    net = ResNet(3, 4, hidden=16, blocks=3, spatial_dims=0)
    widths = [(m.in_features, m.out_features) for m in net.modules() if isinstance(m, nn.Linear)]
    assert widths == [(3, 16)] + [(16, 16)] * 6 + [(16, 4)]
    assert not any(isinstance(m, nn.Conv1d | nn.Conv2d) for m in net.modules())


def test_resnet_blocks_are_residual():
    net = ResNet(3, 4, hidden=8, blocks=1, spatial_dims=0).double()
    block = net.blocks[0]
    with torch.no_grad():
        block.second.weight.zero_()
        block.second.bias.zero_()
    h = torch.randn(2, 8, dtype=F64)
    torch.testing.assert_close(block(h), h)


@pytest.mark.parametrize("make", [lambda: ConvNet(3, 4, spatial_dims=3), lambda: ResNet(3, 4, spatial_dims=4)])
def test_spatial_dims_out_of_range_are_rejected(make):
    with pytest.raises(ValueError, match="spatial_dims"):
        make()


def _permuted(tensor, order):
    return tensor[..., order]


def test_transformer_is_permutation_equivariant_without_positions():
    net = _perturb_last_layer(_transformer(in_features=5))
    x, context = torch.randn(3, 3, 5, dtype=F64), torch.randn(3, 2, 5, dtype=F64)
    order = torch.tensor([3, 0, 4, 1, 2])
    out = net(x, context)
    torch.testing.assert_close(net(_permuted(x, order), _permuted(context, order)), _permuted(out, order))


def test_transformer_with_positions_depends_on_the_order():
    net = _perturb_last_layer(_transformer(positional=True))
    x = torch.randn(3, 3, 5, dtype=F64)
    order = torch.tensor([3, 0, 4, 1, 2])
    difference = net(_permuted(x, order)) - _permuted(net(x), order)
    assert difference.abs().max() > 1e-6


def test_transformer_concatenates_a_per_element_context_and_broadcasts_a_flat_one():
    net = _perturb_last_layer(_transformer(in_features=5))
    x = torch.randn(2, 3, 5, dtype=F64)
    per_element, flat = torch.randn(2, 2, 5, dtype=F64), torch.randn(2, 2, dtype=F64)
    torch.testing.assert_close(net(x, per_element), net(torch.cat([x, per_element], dim=1)))
    broadcast = flat.unsqueeze(-1).expand(2, 2, 5)
    torch.testing.assert_close(net(x, flat), net(torch.cat([x, broadcast], dim=1)))
    # A flat context keeps the net equivariant: it is the same for every element.
    order = torch.tensor([4, 3, 2, 1, 0])
    torch.testing.assert_close(net(_permuted(x, order), flat), _permuted(net(x, flat), order))


def test_transformer_layout_and_validation():
    net = Transformer(3, 4, dim=16, heads=4, layers=3)
    assert len(net.blocks) == 3 and not hasattr(net, "position")
    assert net.output.in_features == 16 and net.embedding.out_features == 16
    assert Transformer(3, 4, dim=16, positional=True, length=7).position.shape == (7, 16)
    with pytest.raises(ValueError, match="divisible"):
        Transformer(3, 4, dim=10, heads=4)
    with pytest.raises(ValueError, match="length"):
        Transformer(3, 4, positional=True)


def test_transformer_handles_a_different_batch_and_float32():
    net = _transformer().float()
    _perturb_last_layer(net)
    out = net(torch.randn(7, 3, 5))
    assert out.shape == (7, 4, 5) and out.dtype == torch.float32


def test_nets_have_deterministic_parameter_names():
    for make, _ in NETS.values():
        assert [name for name, _ in make().named_parameters()] == [name for name, _ in make().named_parameters()]


@pytest.mark.parametrize("name", NETS)
def test_forward_compiles_without_graph_breaks(name):
    make, data = NETS[name]
    net = _perturb_last_layer(make())
    x = data()
    torch.testing.assert_close(compiled_fullgraph(net)(x), net(x))


def test_forward_with_a_context_compiles_without_graph_breaks():
    net = _perturb_last_layer(ConvNet(5, 4, hidden=8).double())
    x, context = torch.randn(2, 3, 4, 5, dtype=F64), torch.randn(2, 2, dtype=F64)
    torch.testing.assert_close(compiled_fullgraph(net)(x, context), net(x, context))
