"""`python -m survae_dsl.train`: the `survae-train` command."""

import sys

from survae_dsl.train.cli import main

sys.exit(main())
