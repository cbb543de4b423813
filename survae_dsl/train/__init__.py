"""`survae-train`: train a `.survae` model by maximum likelihood, evaluate it, plot it.

From Python: ``fit(TrainConfig("model.survae", data="corners", epochs=5))`` does what the command
does with the same options and returns the metrics report (what OUT/metrics.json holds); it
raises `TrainError` where the command exits with 1. From the shell:

    survae-train MODEL.survae --data NAME|FILE [--model NAME] [--epochs 20]
        [--batch-size 256] [--lr 1e-3] [--seed 0] [--out DIR] [--iw-k 100]
        [--test FILE] [--context FILE.npy] [--test-context FILE.npy] [--max-steps N]
        [--device auto|cpu|cuda|cuda:N] [--precision fp32|bf16] [--dtype float32|float64]
        [--workers N] [--warmup STEPS] [--decay none|exponential|cosine] [--gamma G]
        [--clip-grad NORM] [--tensorboard DIR] [--compile] [--resume]
    torchrun --nproc-per-node N -m survae_dsl.train MODEL.survae ...   (data-parallel)

What it does, in order:

1. reads the model file once and compiles that text (the bundle keeps it); a model with
   several inputs is refused; contexts are read from the data (docs/data.md);
2. loads the data (a set of `survae_dsl.data`, a `.npy`/`.npz` file, a folder of images) and
   the held-out data, and refuses data that does not fit the model's types before any training;
3. joins the torchrun process group when there is one (`distributed`), picks the device
   (`devices`), and trains with Adam: each step on a global batch of ``--batch-size`` examples
   split between the processes, the learning rate from `schedule`, the gradient clipped to
   ``--clip-grad``, the nets in bf16 with ``--precision bf16`` (`survae_dsl.nn.precision`);
   ``model.initialize`` on the first global batch first (actnorm statistics over every process);
4. checkpoints atomically to OUT/checkpoint.pt (rank 0), with the run folder written as a
   trained-model bundle (`bundle`), after every epoch and wherever training stops
   (`--max-steps`, Ctrl-C, SIGTERM); `--resume` continues from it, with any number of processes;
5. evaluates on the train and held-out data (`evaluation`), writes OUT/metrics.json and plots.

docs/training.md describes devices, precision, torchrun, the schedule, TensorBoard and the
resume rules.

Determinism: `--seed` fixes the initial weights, the batch order of each epoch (a function of
the seed and the epoch alone, whatever the number of processes) and every noise draw during
training (seeded by seed, step and process); evaluation and plots draw from their own seeded
streams. Two runs with the same options give the same metrics (all but the timings).

A non-finite loss or gradient stops the run with the step and, where it can be found, the
first layer whose output (or parameter) is non-finite; the last checkpoint is left as it was.

Interruptions: Ctrl-C (SIGINT) or SIGTERM during training finishes the current step, writes the
checkpoint there (mid-epoch: the epoch's position and loss so far are in it), prints the command
that continues the run and exits with 130 (SIGINT) or 143 (SIGTERM), no traceback; a second
Ctrl-C stops at once, leaving the last checkpoint as it was (under torchrun every process stops at
the same step). A run that is killed (SIGKILL, a crash, a power cut) loses only the work since its
last checkpoint: every file is written to a temporary file and renamed, so checkpoint.pt,
metrics.json, the bundle and the plots are the previous complete version or absent, never
truncated; a temporary file a kill leaves behind is removed by the next run in OUT. When one
process of a torchrun run dies, the others stop with one line. `--resume` with the same options
then replays from the checkpoint exactly (same batch order and noise), reaching the same metrics
as a run that was never stopped.

Exit status: 0 success; 1 a problem with the model, the data, the files or the training
(one line on stderr: `survae-train: error: ...`); 2 bad command-line usage; 130 interrupted
(Ctrl-C); 143 stopped by SIGTERM.

The modules, in the order a run meets them: `cli` (options → `TrainConfig`, exit statuses),
`config`, `fit` (the run from start to finish), `model_input` and `data_loading` (the model, its
input and contexts, the data checked against them; `examples`, `image_folder`), `distributed`
(process group, batch order, teardown), `devices`, `loop` (epochs and steps), `schedule`,
`signals` (stop requests), `diagnose` (where a NaN comes from), `checkpoints` (atomic writes,
temporaries, resume), `state`, `bundle`, `tensorboard_log`, `evaluation`, `metrics`
(metrics.json and the summary), `plots`; `errors` holds the exceptions.
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
