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
        snn.MLP(3, 2, hidden=(), activation="bogus")


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


# --- Per-layer widths and kernels, activations, dropout, norms, strides -----------------------

from survae_dsl.nn.nets import ELEMENTWISE, ConcatELU, DenseNet, GatedConvNet, conv_out_size  # noqa: E402


def _convolutions(net):
    return [m for m in net.modules() if isinstance(m, nn.Conv1d | nn.Conv2d)]


def test_conv_net_takes_a_width_and_a_kernel_per_layer():
    """Glow's net: 3×3 → 1×1 → 3×3 with 512 hidden channels."""
    net = ConvNet(3, 6, hidden=(512, 512), kernel=(3, 1, 3))
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in _convolutions(net)] == [
        (3, 512, (3, 3)),
        (512, 512, (1, 1)),
        (512, 6, (3, 3)),
    ]
    widths = ConvNet(3, 6, hidden=(5, 7), kernel=3)
    assert [(c.in_channels, c.out_channels) for c in _convolutions(widths)] == [(3, 5), (5, 7), (7, 6)]
    kernels = ConvNet(3, 6, hidden=4, kernel=(1, 3, 5, 1))  # the kernel list sets the layer count
    assert [c.kernel_size for c in _convolutions(kernels)] == [(1, 1), (3, 3), (5, 5), (1, 1)]


@pytest.mark.parametrize(
    "options,match",
    [
        ({"hidden": (5, 7), "layers": 2}, "layers=2 but 2 hidden"),
        ({"hidden": (5, 7), "kernel": (3, 1)}, "kernel has 2 entries for 3 layers"),
        ({"hidden": 5, "layers": 3, "kernel": (3, 1)}, "kernel has 2 entries for 3 layers"),
        ({"dropout": 1.0}, "dropout"),
        ({"norm": "bogus"}, "norm"),
        ({"activation": "bogus"}, "activation"),
    ],
)
def test_conv_net_rejects_lists_that_disagree(options, match):
    with pytest.raises(ValueError, match=match):
        ConvNet(3, 4, **options)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_each_activation_is_elementwise_and_named(name):
    net = snn.MLP(3, 2, hidden=(5,), activation=name).double()
    activation = net.layers[1]
    h = torch.linspace(-3, 3, 13, dtype=F64)
    expected = {
        "relu": torch.relu,
        "gelu": torch.nn.functional.gelu,
        "gelu_sigmoid": lambda t: t * torch.sigmoid(1.702 * t),
        "tanh": torch.tanh,
        "elu": torch.nn.functional.elu,
        "leaky_relu": lambda t: torch.where(t > 0, t, 0.01 * t),
        "silu": lambda t: t * torch.sigmoid(t),
        "swish": lambda t: t * torch.sigmoid(t),
        "softplus": torch.nn.functional.softplus,
        "sigmoid": torch.sigmoid,
    }[name]
    torch.testing.assert_close(activation(h), expected(h))


def test_concat_elu_doubles_the_width_the_next_layer_reads():
    h = torch.randn(4, 3, 5, dtype=F64)
    torch.testing.assert_close(ConcatELU()(h), torch.nn.functional.elu(torch.cat([h, -h], dim=1)))
    mlp = snn.MLP(3, 2, hidden=(5, 7), activation="concat_elu")
    assert [(m.in_features, m.out_features) for m in mlp.modules() if isinstance(m, nn.Linear)] == [
        (3, 5),
        (10, 7),
        (14, 2),
    ]
    conv = ConvNet(3, 2, hidden=(5,), activation="concat_elu")
    assert [(c.in_channels, c.out_channels) for c in _convolutions(conv)] == [(3, 5), (10, 2)]
    out = _perturb_last_layer(conv.double())(torch.randn(2, 3, 4, 4, dtype=F64))
    assert out.shape == (2, 2, 4, 4)


@pytest.mark.parametrize(
    "make,data",
    [
        (lambda **o: snn.MLP(3, 4, hidden=(8, 8), **o), lambda: torch.randn(6, 3, dtype=F64)),
        (lambda **o: ConvNet(3, 4, hidden=8, layers=3, **o), lambda: torch.randn(6, 3, 5, 5, dtype=F64)),
        (lambda **o: ResNet(3, 4, hidden=8, spatial_dims=0, **o), lambda: torch.randn(6, 3, dtype=F64)),
        (lambda **o: ResNet(3, 4, hidden=8, spatial_dims=1, **o), lambda: torch.randn(6, 3, 7, dtype=F64)),
    ],
)
def test_dropout_draws_masks_in_training_only(make, data):
    net = _perturb_last_layer(make(dropout=0.5).double())
    assert any(isinstance(m, nn.Dropout) for m in net.modules())
    x = data()
    torch.manual_seed(0)
    first = net(x)
    assert not torch.equal(first, net(x))  # a fresh mask each call
    net.eval()
    torch.testing.assert_close(net(x), net(x))
    assert not any(isinstance(m, nn.Dropout) for m in make().modules())  # none without dropout


@pytest.mark.parametrize(
    "make,data,kind",
    [
        (lambda n: snn.MLP(3, 4, hidden=(8,), norm=n), lambda: torch.randn(6, 3, dtype=F64), nn.LayerNorm),
        (lambda n: ConvNet(3, 4, hidden=8, norm=n), lambda: torch.randn(6, 3, 5, 5, dtype=F64), nn.GroupNorm),
        (lambda n: ResNet(3, 4, hidden=8, norm=n), lambda: torch.randn(6, 3, 5, 5, dtype=F64), nn.GroupNorm),
        (lambda n: ResNet(3, 4, hidden=8, spatial_dims=0, norm=n), lambda: torch.randn(6, 3, dtype=F64), nn.LayerNorm),
    ],
)
def test_layer_norm_never_mixes_examples_and_batch_norm_does_in_training(make, data, kind):
    x = data()
    layer = _perturb_last_layer(make("layer").double())
    assert any(isinstance(m, kind) for m in layer.modules())
    torch.testing.assert_close(layer(x)[:2], layer(x[:2]))  # each example on its own
    batch = _perturb_last_layer(make("batch").double())
    assert any(isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d) for m in batch.modules())
    assert not torch.allclose(batch(x)[:2], batch(x[:2]))  # training: batch statistics
    batch.eval()
    torch.testing.assert_close(batch(x)[:2], batch(x[:2]))  # eval: running statistics, per example


@pytest.mark.parametrize("kernel", [1, 3, 5])
@pytest.mark.parametrize("stride", [2, 3])
@pytest.mark.parametrize("spatial", [(7,), (8,), (5, 6), (4, 9)])
def test_strided_conv_net_gives_the_declared_size(kernel, stride, spatial):
    for layers in (1, 3):
        net = ConvNet(3, 4, hidden=5, layers=layers, kernel=kernel, spatial_dims=len(spatial), stride=stride)
        out = net(torch.randn(2, 3, *spatial))
        assert out.shape[2:] == tuple(conv_out_size(s, stride=stride) for s in spatial)
        assert [c.stride[0] for c in _convolutions(net)] == [stride] + [1] * (layers - 1)


@pytest.mark.parametrize("upsample", [2, 3])
@pytest.mark.parametrize("spatial", [(7,), (3, 4)])
def test_upsampling_conv_net_gives_the_declared_size_and_repeats_positions(upsample, spatial):
    net = _perturb_last_layer(ConvNet(3, 4, hidden=5, kernel=1, spatial_dims=len(spatial), upsample=upsample))
    x = torch.randn(2, 3, *spatial)
    out = net(x)
    assert out.shape[2:] == tuple(conv_out_size(s, upsample=upsample) for s in spatial)
    # 1×1 kernels: each block of upsample^d outputs repeats one input position's output.
    assert isinstance(net.layers[0], nn.Upsample)
    expected = net.layers[1:](x)  # the same convolutions at the input's size
    for axis in range(2, 2 + len(spatial)):
        expected = expected.repeat_interleave(upsample, dim=axis)
    torch.testing.assert_close(out, expected)


def test_dense_net_layout_follows_the_growth():
    net = DenseNet(3, 4, hidden=6, blocks=2, layers=3, growth=2, kernel=3)
    widths = [(c.in_channels, c.out_channels, c.kernel_size[0]) for c in _convolutions(net)]
    dense_block = [(6, 6, 1), (6, 2, 3), (8, 8, 1), (8, 2, 3), (10, 10, 1), (10, 2, 3), (12, 6, 1)]
    assert widths == [(3, 6, 1), *dense_block, *dense_block, (6, 4, 1)]
    h = torch.randn(2, 6, 4, 4)
    layer = net.blocks[1][0]
    out = layer(h)
    assert out.shape == (2, 8, 4, 4) and torch.equal(out[:, :6], h)  # the input channels pass through


def test_dense_net_gated_residual_blocks_are_the_reference_maths():
    """`transition="gated"`: W (C → 3·hidden) gives (a, b, c), the block ends in a + b ⊙ σ(c);
    `residual=True`: the block returns h + block(h) (SurVAE Flows' ResidualDenseBlock)."""
    net = DenseNet(3, 4, hidden=6, blocks=2, layers=2, growth=3, transition="gated", residual=True).double()
    widths = [(c.in_channels, c.out_channels, c.kernel_size[0]) for c in _convolutions(net)]
    dense_block = [(6, 6, 1), (6, 3, 3), (9, 9, 1), (9, 3, 3), (12, 18, 1)]  # the transition gives 3 × 6
    assert widths == [(3, 6, 1), *dense_block, *dense_block, (6, 4, 1)]
    h = torch.randn(2, 6, 4, 5, dtype=F64)
    residual = net.blocks[1]
    dense, transition = residual.inner[:-1], residual.inner[-1]
    a, b, c = transition.conv(dense(h)).chunk(3, dim=1)
    torch.testing.assert_close(transition(dense(h)), a + b * torch.sigmoid(c))
    torch.testing.assert_close(residual(h), h + a + b * torch.sigmoid(c))
    # each option alone: a plain transition with the residual, a gated one without it
    plain = DenseNet(3, 4, hidden=6, layers=2, growth=3, residual=True).double()
    torch.testing.assert_close(plain.blocks[1](h), h + plain.blocks[1].inner(h))
    gated = DenseNet(3, 4, hidden=6, layers=2, growth=3, transition="gated").double()
    assert gated.blocks[1](h).shape == (2, 6, 4, 5)
    with pytest.raises(ValueError, match="transition"):
        DenseNet(3, 4, transition="sigmoid")


def test_gated_block_is_a_residual_gate():
    net = GatedConvNet(3, 4, hidden=5, blocks=1, kernel=3).double()
    block = net.blocks[0]
    h = torch.randn(2, 5, 4, 4, dtype=F64)
    elu2 = ConcatELU()
    a, b = block.gate(elu2(block.conv(elu2(h)))).chunk(2, dim=1)
    torch.testing.assert_close(block(h), h + a * torch.sigmoid(b))
    assert [(c.in_channels, c.out_channels) for c in _convolutions(net)] == [(3, 5), (10, 5), (10, 10), (10, 4)]


NEW_NETS = {
    "densenet1d": (lambda: DenseNet(3, 4, hidden=6, layers=2, growth=3, spatial_dims=1).double(), (7,)),
    "densenet2d": (lambda: DenseNet(3, 4, hidden=6, blocks=2, layers=2, growth=3, dropout=0.1).double(), (5, 6)),
    "densenet_gated_residual": (
        lambda: DenseNet(3, 4, hidden=6, blocks=2, layers=2, growth=3, transition="gated", residual=True).double(),
        (5, 6),
    ),
    "densenet_gated1d": (
        lambda: DenseNet(3, 4, hidden=6, layers=2, growth=3, spatial_dims=1, transition="gated").double(),
        (7,),
    ),
    "dense_block1d": (lambda: snn.DenseBlock(3, 4, layers=2, growth=3, spatial_dims=1).double(), (7,)),
    "dense_block_gated2d": (
        lambda: snn.DenseBlock(3, 4, layers=3, growth=2, transition="gated", dropout=0.1).double(),
        (5, 6),
    ),
    "gated1d": (lambda: GatedConvNet(3, 4, hidden=6, spatial_dims=1).double(), (7,)),
    "gated2d": (lambda: GatedConvNet(3, 4, hidden=6, blocks=3, dropout=0.1).double(), (5, 6)),
    "conv_options": (
        lambda: ConvNet(3, 4, hidden=(6, 5), kernel=(3, 1, 3), activation="concat_elu", norm="layer").double(),
        (5, 6),
    ),
}


@pytest.mark.parametrize("name", NEW_NETS)
def test_new_nets_start_at_zero_train_every_parameter_and_read_a_context(name):
    make, spatial = NEW_NETS[name]
    x = torch.randn(2, 3, *spatial, dtype=F64)
    net = make()
    out = net(x)
    assert out.shape == (2, 4, *spatial) and torch.equal(out, torch.zeros_like(out))
    net = _perturb_last_layer(net)
    net(x).square().sum().backward()
    for parameter_name, parameter in net.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, parameter_name
    net.eval()
    reader = make().eval()
    reader.load_state_dict(net.state_dict())
    x1, context = x[:, :2], x[:, 2:]
    torch.testing.assert_close(reader(x1, context), net(x))  # a context is stacked on the channels


def test_dense_block_is_the_dense_layers_then_a_gated_transition():
    """`dense_block`: no 1×1 convolutions around the block; its dense layers start from the
    input's channels, each appending `growth`; the gated transition maps to 3·out channels
    (a, b, c) and gives a + b·σ(c); `residual` adds the input."""
    block = _perturb_last_layer(snn.DenseBlock(3, 3, layers=2, growth=4, transition="gated").double())
    convs = [(c.in_channels, c.out_channels, c.kernel_size) for c in _convolutions(block)]
    assert convs == [(3, 3, (1, 1)), (3, 4, (3, 3)), (7, 7, (1, 1)), (7, 4, (3, 3)), (11, 9, (1, 1))]
    x = torch.randn(2, 3, 5, 5, dtype=F64)
    h = x
    for layer in block.dense:
        first, _, second, _ = layer.layers
        h = torch.cat([h, torch.relu(second(torch.relu(first(h))))], dim=1)
    a, b, c = block.transition.conv(h).chunk(3, dim=1)
    torch.testing.assert_close(block(x), a + b * torch.sigmoid(c))
    residual = snn.DenseBlock(3, 3, layers=2, growth=4, transition="gated", residual=True).double()
    residual.load_state_dict(block.state_dict())
    torch.testing.assert_close(residual(x), x + block(x))


def test_a_coupling_with_the_new_nets_inverts_exactly():
    """A conditioner never needs inverting: any of these nets keeps the coupling a bijection
    with the exact log-determinant (eval mode: no dropout mask, running batch statistics)."""
    for net in (
        DenseNet(2, 4, hidden=6, layers=2, growth=3, dropout=0.3),
        DenseNet(2, 4, hidden=6, layers=2, growth=3, dropout=0.3, transition="gated", residual=True),
        GatedConvNet(2, 4, hidden=6, dropout=0.3),
        ConvNet(2, 4, hidden=(6, 5), kernel=(3, 1, 3), activation="concat_elu", norm="batch", dropout=0.3),
    ):
        coupling = snn.AffineCoupling((4, 5, 5), _perturb_last_layer(net.double(), 0.1), dim=0).double()
        coupling(torch.randn(8, 4, 5, 5, dtype=F64))  # training mode: batch statistics move
        coupling.eval()
        x = torch.randn(3, 4, 5, 5, dtype=F64)
        z, ldj = coupling(x)
        torch.testing.assert_close(coupling.inverse(z), x)
        jacobian = torch.autograd.functional.jacobian(
            lambda v, c=coupling: c(v.reshape(1, 4, 5, 5))[0].flatten(), x[:1]
        )
        logdet = torch.linalg.slogdet(jacobian.reshape(100, 100))[1]
        torch.testing.assert_close(ldj[:1], logdet.reshape(1))
