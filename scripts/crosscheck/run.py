"""Cross-check of survae-dsl zoo models against the SurVAE Flows reference code, with weights
transferred from the (randomised) reference into our compiled models, in float64.

Run from the repository root, with a checkout of didriknielsen/survae_flows at REF:

    SURVAE_REFERENCE=REF PYTHONPATH=REF:scripts/crosscheck/shim .venv/bin/python scripts/crosscheck/run.py [--skip-cifar]

(shim/ stands in for torchvision, which the reference imports only to save images.) Not part of
the tests: they never depend on the reference code.
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402


def main() -> None:
    torch.set_default_dtype(torch.float64)  # the reference's Flow.log_prob accumulates in the default dtype
    torch.set_num_threads(2)
    t0 = time.time()
    import toy

    toy.check_abs("AbsFlow", "logit")
    toy.check_abs("AbsFlowSoftplus", "softplus")
    toy.check_toy_flow()
    toy.check_aug_flow()
    toy.check_clamps()
    import sort

    sort.check_sort_flow()
    sort.check_perm_flow()
    if "--skip-cifar" not in sys.argv:
        import cifar

        cifar.check_cifar(torch.float64)
    print(f"total {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
