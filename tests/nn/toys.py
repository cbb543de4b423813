"""Hand-written models in the style of generated code, for the Model and helper tests."""

from __future__ import annotations

import torch
from torch import Tensor

import survae_dsl.nn as snn


def randomise_last_layer(net: snn.MLP, scale: float = 0.5) -> snn.MLP:
    """Give a net a random last layer so the layer using it is not the identity."""
    with torch.no_grad():
        net.layers[-1].weight.normal_(0.0, scale)
        net.layers[-1].bias.normal_(0.0, scale)
    return net


class FlowToy(snn.Model):
    """x real[2], context c real[3]: actnorm, conditional coupling, actnorm, normal."""

    likelihood = "exact"

    def __init__(self) -> None:
        super().__init__()
        self.actnorm_1 = snn.ActNorm(shape=(2,))
        net = randomise_last_layer(snn.MLP(1 + 3, 2, hidden=(8,), activation="tanh"))
        self.affine_coupling_2 = snn.AffineCoupling(shape=(2,), net=net, dim=0, split=1)
        self.actnorm_3 = snn.ActNorm(shape=(2,))
        self.normal_4 = snn.Normal(shape=(2,))

    def log_prob(self, x: Tensor, *, c: Tensor) -> Tensor:
        log_prob = self._zeros(x)
        h, ldj = self.actnorm_1(x)
        log_prob = log_prob + ldj
        h, ldj = self.affine_coupling_2(h, context=c)
        log_prob = log_prob + ldj
        h, ldj = self.actnorm_3(h)
        log_prob = log_prob + ldj
        return log_prob + self.normal_4.log_prob(h)

    def sample(
        self,
        num_samples: int | None = None,
        *,
        c: Tensor,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        h = self.normal_4.sample(c.shape[0], temperature=temperature, generator=generator)
        h = self.actnorm_3.inverse(h)
        h = self.affine_coupling_2.inverse(h, context=c)
        return self.actnorm_1.inverse(h)


class DequantizeToy(snn.Model):
    """x int<4>[3]: dequantize, logit, coupling, standard normal (a lower bound)."""

    likelihood = "lower_bound"

    def __init__(self) -> None:
        super().__init__()
        self.dequantize_1 = snn.Dequantize(shape=(3,), num_classes=4)
        self.logit_2 = snn.Logit(shape=(3,))
        net = randomise_last_layer(snn.MLP(2, 2, hidden=(8,)))
        self.affine_coupling_3 = snn.AffineCoupling(shape=(3,), net=net)
        self.standard_normal_4 = snn.StandardNormal(shape=(3,))

    def log_prob(self, x: Tensor) -> Tensor:
        log_prob = self._zeros(x)
        h, ldj = self.dequantize_1(x)
        log_prob = log_prob + ldj
        h, ldj = self.logit_2(h)
        log_prob = log_prob + ldj
        h, ldj = self.affine_coupling_3(h)
        log_prob = log_prob + ldj
        return log_prob + self.standard_normal_4.log_prob(h)

    def sample(
        self,
        num_samples: int | None = None,
        *,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        n = self._num_samples(num_samples)
        h = self.standard_normal_4.sample(n, temperature=temperature, generator=generator)
        h = self.affine_coupling_3.inverse(h)
        h = self.logit_2.inverse(h)
        return self.dequantize_1.inverse(h)


class OuterToy(snn.Model):
    """x real[2] ~ an actnorm then FlowToy used as a distribution, with a fixed context."""

    likelihood = "exact"

    def __init__(self) -> None:
        super().__init__()
        self.actnorm_1 = snn.ActNorm(shape=(2,))
        self.prior = FlowToy()

    def log_prob(self, x: Tensor) -> Tensor:
        h, ldj = self.actnorm_1(x)
        context = torch.zeros(x.shape[0], 3, dtype=x.dtype)
        return ldj + self.prior.log_prob(h, c=context)
