import math

import torch

from survae_dsl.nn import functional as fn


def test_softplus_matches_the_definition():
    x = torch.linspace(-40, 40, 81, dtype=torch.float64)
    expected = torch.tensor([math.log1p(math.exp(v)) for v in x.tolist()], dtype=torch.float64)
    torch.testing.assert_close(fn.softplus(x), expected, rtol=1e-15, atol=0)


def test_softplus_inv_inverts_softplus():
    y = torch.logspace(-8, 2, 50, dtype=torch.float64)
    torch.testing.assert_close(fn.softplus(fn.softplus_inv(y)), y)


def test_log_softplus_matches_log_of_softplus_and_stays_finite():
    y = torch.linspace(-30, 30, 121, dtype=torch.float64)
    torch.testing.assert_close(fn.log_softplus(y), torch.log(fn.softplus(y)), rtol=1e-14, atol=0)
    far = torch.tensor([-1000.0], dtype=torch.float64, requires_grad=True)
    value = fn.log_softplus(far)
    value.backward()
    torch.testing.assert_close(value.detach(), torch.tensor([-1000.0], dtype=torch.float64))
    torch.testing.assert_close(far.grad, torch.ones(1, dtype=torch.float64))


def test_softplus_identity_offset():
    offset = torch.tensor(fn.SOFTPLUS_IDENTITY_OFFSET, dtype=torch.float64)
    torch.testing.assert_close(fn.softplus(offset), torch.tensor(1.0, dtype=torch.float64))
