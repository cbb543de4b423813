"""A compiled model under `DistributedDataParallel` (docs/language.md, The compiled module): two CPU processes
(gloo), each on half of a batch, reach the same loss and gradients as one process on the whole
batch. Run in a subprocess (a script of its own, so that the spawned workers can import it)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # trains in three processes: about 8 s

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = textwrap.dedent(
    """
    import gc, os, sys, warnings
    warnings.filterwarnings("ignore")
    import torch
    import torch.distributed as dist
    # Imported before any process group exists: its functions take `group=group.WORLD` as a
    # default argument, evaluated at import. Imported later (DDP imports it lazily), those
    # defaults hold the world group for ever, `destroy_process_group` cannot free it, and gloo's
    # worker threads outlive the interpreter (see teardown below).
    import torch.distributed.nn  # noqa: F401
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

    def threads():
        return len(os.listdir("/proc/self/task"))

    def worker(rank, world):
        torch.set_num_threads(1)  # two processes on the machine's cores; no OpenMP pool to count
        before = threads()
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
        del model  # DDP's reducer holds the process group
        teardown()
        # The tensors the collectives wrote into lived until gloo's threads were joined.
        del losses, loss
        with open(f"{OUT}/threads.{rank}", "w") as f:
            f.write(f"{before} {threads()}")

    def teardown():
        \"\"\"Free the process group while the interpreter is whole, joining gloo's threads.

        A gloo worker thread drops its reference to a finished collective after waking the
        caller; when that is the last reference to a tensor Python has let go of, it must take
        the GIL. During interpreter shutdown it cannot: the thread is unwound through a noexcept
        destructor and the process aborts ("terminate called without an active exception").
        So the group must really be destroyed, not just unregistered: nothing may hold it but
        torch.distributed's registry (the caller deletes its DDP model first; torch.distributed.nn
        is imported before the group exists), and the cycles DDP builds are collected first.
        \"\"\"
        gc.collect()
        dist.destroy_process_group()

    if __name__ == "__main__":
        mp.spawn(worker, args=(2,), nprocs=2, join=True)
        single = build()
        loss = -single(data()).mean()
        loss.backward()
        grads = {n: p.grad for n, p in single.named_parameters()}
        torch.save({"loss": loss.detach(), "grads": grads}, f"{OUT}/single.pt")
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
    for rank in range(2):
        before, after = map(int, (tmp_path / f"threads.{rank}").read_text().split())
        # gloo's worker threads are joined before the interpreter exits (see `teardown`)
        assert after == before, f"rank {rank}: {after - before} threads of the process group outlive it"
