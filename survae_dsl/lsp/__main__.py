"""`python -m survae_dsl.lsp`: the language server on stdio (the `survae-lsp` command)."""

import sys

from . import main

sys.exit(main())
