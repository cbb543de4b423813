import pytest
import torch

import survae_dsl.nn as snn
from survae_dsl.nn.base import Distribution, Transform


def test_eps_for_the_documented_dtypes():
    assert snn.eps_for(torch.float64) == 1e-12
    assert snn.eps_for(torch.float32) == 1e-6


def test_eps_for_half_precision_is_distinguishable_from_one():
    for dtype in (torch.float16, torch.bfloat16):
        eps = snn.eps_for(dtype)
        assert torch.tensor(1.0 - eps, dtype=dtype) < 1.0


def test_sum_except_batch_and_event_numel():
    x = torch.arange(24.0, dtype=torch.float64).reshape(2, 3, 4)
    assert torch.equal(snn.sum_except_batch(x), x.reshape(2, -1).sum(1))
    assert snn.event_numel((3, 4)) == 12
    assert snn.event_numel(()) == 1


@pytest.mark.parametrize("shape", [(0,), (2, -1), (2.0,)])
def test_bad_event_shapes_are_rejected(shape):
    with pytest.raises(ValueError, match="event shape"):
        snn.StandardNormal(shape)


def test_public_names_are_exported():
    for name in snn.__all__:
        assert hasattr(snn, name), name


def test_every_transform_declares_a_valid_kind():
    kinds = {"bijective", "inference_surjective", "generative_surjective", "stochastic"}
    transforms = [getattr(snn, n) for n in snn.__all__]
    transforms = [t for t in transforms if isinstance(t, type) and issubclass(t, Transform)]
    assert len(transforms) > 10
    for cls in transforms:
        if cls is not Transform:
            assert cls.kind in kinds, cls


def test_the_anchor_stays_out_of_the_state_dict():
    layer = snn.Abs((3,))
    assert "_anchor" not in layer.state_dict()
    assert layer.double()._anchor.dtype == torch.float64


def test_protocol_methods_are_abstract():
    with pytest.raises(NotImplementedError):
        Transform((2,))(torch.zeros(1, 2))
    with pytest.raises(NotImplementedError):
        Distribution((2,)).log_prob(torch.zeros(1, 2))
