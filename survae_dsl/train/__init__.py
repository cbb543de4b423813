"""`survae-train`: train a `.survae` model by maximum likelihood, evaluate it, plot it.

From Python: ``fit(TrainConfig("model.survae", data="corners", epochs=5))`` does what the command
does with the same options and returns the metrics report (what OUT/metrics.json holds); it
raises `TrainError` where the command exits with 1. From the shell:

    survae-train MODEL.survae --data NAME|FILE.npy [--model NAME] [--epochs 20]
        [--batch-size 256] [--lr 1e-3] [--seed 0] [--out DIR] [--iw-k 100]
        [--test FILE.npy] [--max-steps N] [--compile] [--resume]

What it does, in order:

1. compiles the model (`survae_dsl.load`); a model with contexts or several inputs is refused;
2. loads the data (a set of `survae_dsl.data` or a `.npy` file) and the held-out data (the
   set's test split, `--test FILE.npy`, or 10% of FILE.npy picked by a fixed shuffle that
   does not depend on `--seed`), and refuses data that does not fit the model's input type
   (shape, values outside `int<K>`, NaN) before any training;
3. trains with Adam in float32 on the CPU, one tqdm bar per epoch on stderr, after
   `model.initialize(first batch)`; `--max-steps` caps the total number of steps; `--compile`
   compiles the step (the loss with its backward, and Adam's update) with `torch.compile`;
4. checkpoints atomically to OUT/checkpoint.pt after every epoch and wherever training stops
   (`--max-steps`, Ctrl-C, SIGTERM): model, optimizer, epoch, step, RNG states, metrics so far;
   `--resume` continues from it and reaches the same final metrics as an uninterrupted run;
5. evaluates on the train (at most `TRAIN_EVAL_EXAMPLES` examples) and held-out data: mean
   log_prob in nats and bits/dim; for lower-bound models also `iw_log_prob` with k=`--iw-k` on
   the first `IW_EXAMPLES` held-out examples; the true log-likelihood when the data set has a
   closed-form density;
6. writes OUT/metrics.json and plots (`density.png` and `samples.png` for 2-D data,
   `samples.png` for images and point clouds).

Determinism: `--seed` fixes the initial weights, the batch order (a `torch.Generator`) and every
noise draw during training; evaluation and plots draw from their own seeded streams. Two runs
with the same options give the same metrics (all but the timings).

A non-finite loss or gradient stops the run with the step and, where it can be found, the
first layer whose output (or parameter) is non-finite; the last checkpoint is left as it was.

Interruptions: Ctrl-C (SIGINT) or SIGTERM during training finishes the current step, writes the
checkpoint there (mid-epoch: the epoch's batch order, position and loss so far are in it), prints
the command that continues the run and exits with 130 (SIGINT) or 143 (SIGTERM), no traceback; a
second Ctrl-C stops at once, leaving the last checkpoint as it was. A run that is killed (SIGKILL,
a crash, a power cut) loses only the work since its last checkpoint: every file is written to a
temporary file and renamed, so checkpoint.pt, metrics.json and the plots are the previous complete
version or absent, never truncated; a temporary file a kill leaves behind is removed by the next
run in OUT. `--resume` with the same options then replays from the checkpoint exactly (same batch
order and noise), reaching the same metrics as a run that was never stopped.

Exit status: 0 success; 1 a problem with the model, the data, the files or the training
(one line on stderr: `survae-train: error: ...`); 2 bad command-line usage; 130 interrupted
(Ctrl-C); 143 stopped by SIGTERM.

The modules, in the order a run meets them: `cli` (options → `TrainConfig`, exit statuses),
`config`, `fit` (the run from start to finish), `model_input` and `data_loading` (the model, its
input type, the data checked against it), `loop` (epochs and steps), `signals` (stop requests),
`diagnose` (where a NaN comes from), `checkpoints` (atomic writes, temporaries, resume), `state`,
`evaluation`, `metrics` (metrics.json and the summary), `plots`; `errors` holds the exceptions.
"""

from __future__ import annotations

from .cli import main
from .config import TrainConfig
from .errors import Interrupted, Stopped, TrainError
from .evaluation import IW_EXAMPLES, TRAIN_EVAL_EXAMPLES
from .fit import fit

__all__ = [
    "IW_EXAMPLES",
    "TRAIN_EVAL_EXAMPLES",
    "Interrupted",
    "Stopped",
    "TrainConfig",
    "TrainError",
    "fit",
    "main",
]
