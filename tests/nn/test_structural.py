import pytest
import torch

import survae_dsl.nn as snn

from .helpers import jacobian_log_det


@pytest.mark.parametrize("shape,dim", [((4,), 0), ((2, 3), 0), ((2, 3), 1)])
def test_reverse_round_trip_and_ldj(shape, dim):
    layer = snn.Reverse(shape, dim=dim).double()
    x = torch.randn(3, *shape, dtype=torch.float64)
    z, ldj = layer(x)
    assert torch.equal(z, x.flip(dim + 1))
    assert torch.equal(layer.inverse(z), x)
    torch.testing.assert_close(ldj, jacobian_log_det(lambda v: layer(v)[0], x))


def test_reverse_rejects_a_missing_axis():
    with pytest.raises(ValueError, match="dim"):
        snn.Reverse((4,), dim=1)
