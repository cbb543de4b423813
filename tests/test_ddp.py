"""A compiled model under `DistributedDataParallel` (LANGUAGE.md §8): two CPU processes
(gloo), each on half of a batch, reach the same loss and gradients as one process on the whole
batch. Run in a subprocess (a script of its own, so that the spawned workers can import it)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = textwrap.dedent(
    """
    import os, sys, warnings
    warnings.filterwarnings("ignore")
    import torch
    import torch.distributed as dist
    import torch.multiprocessing as mp
    from torch.nn.parallel import DistributedDataParallel
    import survae_dsl

    MODEL = sys.argv[1]
    OUT = sys.argv[2]

    def build():
        torch.manual_seed(0)
        model = survae_dsl.load(MODEL)().double()
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.1 * torch.randn_like(p))
        return model

    def data():
        return torch.randn(64, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)

    def worker(rank, world):
        dist.init_process_group("gloo", init_method=f"file://{OUT}/rendezvous", rank=rank, world_size=world)
        model = DistributedDataParallel(build())
        x = data().chunk(world)[rank]
        loss = -model(x).mean()
        loss.backward()
        losses = [torch.zeros((), dtype=torch.float64) for _ in range(world)]
        dist.all_gather(losses, loss.detach())
        if rank == 0:
            grads = {n: p.grad for n, p in model.module.named_parameters()}
            torch.save({"loss": torch.stack(losses).mean(), "grads": grads}, f"{OUT}/ddp.pt")
        dist.destroy_process_group()

    if __name__ == "__main__":
        mp.spawn(worker, args=(2,), nprocs=2, join=True)
        single = build()
        loss = -single(data()).mean()
        loss.backward()
        torch.save({"loss": loss.detach(), "grads": {n: p.grad for n, p in single.named_parameters()}}, f"{OUT}/single.pt")
    """
)


def test_two_processes_match_one(tmp_path: Path) -> None:
    import torch

    script = tmp_path / "ddp_check.py"
    script.write_text(SCRIPT, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script), str(ROOT / "examples" / "abs_flow.survae"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    ddp, single = torch.load(tmp_path / "ddp.pt"), torch.load(tmp_path / "single.pt")
    torch.testing.assert_close(ddp["loss"], single["loss"])
    assert ddp["grads"].keys() == single["grads"].keys()
    for name, grad in single["grads"].items():
        torch.testing.assert_close(ddp["grads"][name], grad, msg=name)
