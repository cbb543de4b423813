import math

import pytest
import torch

import survae_dsl.nn as snn
from survae_dsl.nn import model as model_module

from .toys import DequantizeToy, FlowToy, OuterToy

F64 = torch.float64


def _flow_data(batch=6):
    x = 2.0 * torch.randn(batch, 2, dtype=F64) + 1.0
    c = torch.randn(batch, 3, dtype=F64)
    return x, c


def _normalised(h):
    torch.testing.assert_close(h.mean(0), torch.zeros(h.shape[1], dtype=F64))
    torch.testing.assert_close(h.std(0, correction=0), torch.ones(h.shape[1], dtype=F64))


def test_forward_is_log_prob():
    model = FlowToy().double()
    x, c = _flow_data()
    assert torch.equal(model(x, c=c), model.log_prob(x, c=c))


def test_the_anchor_follows_dtype_and_stays_out_of_checkpoints():
    model = FlowToy().double()
    assert model._zeros(torch.zeros(5, 2)).dtype == F64
    assert model._zeros(torch.zeros(5, 2)).shape == (5,)
    state = model.state_dict()
    assert not any("_anchor" in key for key in state)
    fresh = FlowToy().double()
    fresh.load_state_dict(state)
    x, c = _flow_data()
    torch.testing.assert_close(fresh.log_prob(x, c=c), model.log_prob(x, c=c))


def test_num_samples():
    model = DequantizeToy()
    assert model._num_samples(None) == 1
    assert model._num_samples(3) == 3
    for bad in (0, -2, 2.0, True, "3"):
        with pytest.raises(ValueError, match="num_samples must be a positive int"):
            model._num_samples(bad)


def test_initialize_sets_actnorms_in_evaluation_order():
    model = FlowToy().double()
    x, c = _flow_data(64)
    model.initialize(x, c=c)
    h, _ = model.actnorm_1(x)
    _normalised(h)
    h, _ = model.affine_coupling_2(h, context=c)
    _normalised(model.actnorm_3(h)[0])  # set from the already-normalised upstream output


def test_initialize_runs_once_and_leaves_no_hooks():
    model = FlowToy().double()
    x, c = _flow_data(64)
    model.initialize(x, c=c)
    assert all(not module._forward_pre_hooks for module in model.modules())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.log_prob(x * 5.0, c=c)
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key])


def test_initialize_removes_hooks_when_log_prob_fails():
    model = FlowToy().double()
    with pytest.raises(TypeError):
        model.initialize(torch.zeros(4, 2, dtype=F64))  # the context is missing
    assert all(not module._forward_pre_hooks for module in model.modules())


def test_initialize_reaches_layers_of_a_model_used_as_a_distribution():
    model = OuterToy().double()
    x = 3.0 * torch.randn(64, 2, dtype=F64) - 1.0
    model.initialize(x)
    h, _ = model.actnorm_1(x)
    _normalised(h)
    _normalised(model.prior.actnorm_1(h)[0])


def test_initialize_keeps_gradients_off():
    model = FlowToy().double()
    x, c = _flow_data(8)
    model.initialize(x, c=c)
    assert all(p.grad is None for p in model.parameters())


def test_iw_log_prob_equals_log_prob_for_an_exact_model(monkeypatch):
    model = FlowToy().double()
    x, c = _flow_data(5)
    expected = model.log_prob(x, c=c)
    torch.testing.assert_close(snn.iw_log_prob(model, x, k=7, c=c), expected)
    # Chunked evaluation (3 copies at a time, the last chunk shorter) gives the same.
    monkeypatch.setattr(model_module, "_IW_CHUNK_ENTRIES", 3 * 5 * (2 + 3))
    torch.testing.assert_close(snn.iw_log_prob(model, x, k=7, c=c), expected)


def test_iw_log_prob_is_at_least_the_mean_one_sample_bound():
    model = DequantizeToy().double()
    x = torch.randint(0, 4, (5, 3))
    k = 16
    torch.manual_seed(7)
    one_sample = model.log_prob(x.repeat(k, 1)).reshape(k, 5)
    torch.manual_seed(7)
    bound = snn.iw_log_prob(model, x, k=k)
    # The same noise: the bound is the log-mean-exp of exactly these estimates (Jensen).
    torch.testing.assert_close(bound, torch.logsumexp(one_sample, 0) - math.log(k))
    assert (bound >= one_sample.mean(0)).all()
    assert (bound > one_sample.mean(0)).any()


def test_iw_log_prob_with_one_sample_is_log_prob():
    model = DequantizeToy().double()
    x = torch.randint(0, 4, (5, 3))
    torch.manual_seed(3)
    expected = model.log_prob(x)
    torch.manual_seed(3)
    torch.testing.assert_close(snn.iw_log_prob(model, x, k=1), expected)


@pytest.mark.parametrize("k", [0, -1, 1.5, True])
def test_iw_log_prob_rejects_a_bad_k(k):
    with pytest.raises(ValueError, match="k must be a positive int"):
        snn.iw_log_prob(DequantizeToy(), torch.zeros(2, 3, dtype=torch.long), k=k)


def test_bits_per_dim():
    log_prob = torch.tensor([-10.0, -20.0], dtype=F64)
    x = torch.zeros(2, 3, 4, dtype=torch.long)
    expected = torch.tensor([10.0, 20.0], dtype=F64) / (math.log(2.0) * 12)
    torch.testing.assert_close(snn.bits_per_dim(log_prob, x), expected)


def test_toy_models_sample_their_declared_types():
    dequantize = DequantizeToy().double()
    x = dequantize.sample(4, generator=torch.Generator().manual_seed(0))
    assert x.shape == (4, 3) and x.dtype == torch.long and ((x >= 0) & (x < 4)).all()
    flow = FlowToy().double()
    _, c = _flow_data(5)
    assert flow.sample(c=c, temperature=0.5).shape == (5, 2)


def test_an_exact_model_density_integrates_to_one_on_a_grid():
    model = FlowToy().double()
    x, c = _flow_data(64)
    model.initialize(x, c=c)
    # Midpoint rule on a square wide enough for the initialised flow (data: mean 1, std 2).
    steps, low, high = 600, -15.0, 17.0
    h = (high - low) / steps
    axis = low + (torch.arange(steps, dtype=F64) + 0.5) * h
    grid = torch.cartesian_prod(axis, axis)
    context = c[:1].expand(grid.shape[0], 3)
    with torch.no_grad():
        total = model.log_prob(grid, c=context).exp().sum() * h * h
    torch.testing.assert_close(total, torch.tensor(1.0, dtype=F64), rtol=0, atol=1e-3)


def test_sampling_inverts_log_prob_for_an_exact_model():
    model = FlowToy().double()
    x, c = _flow_data(16)
    model.initialize(x, c=c)
    sample = model.sample(c=c, generator=torch.Generator().manual_seed(2))
    base = model.normal_4.sample(16, generator=torch.Generator().manual_seed(2))
    h, _ = model.actnorm_1(sample)
    h, _ = model.affine_coupling_2(h, context=c)
    torch.testing.assert_close(model.actnorm_3(h)[0], base)
