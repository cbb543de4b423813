"""Documentation tools: the `--explain` texts and the generated pages of docs/."""
