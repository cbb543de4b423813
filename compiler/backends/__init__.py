"""Back ends: they read checked models and never import the checks. PyTorch code
(`codegen`, `standalone`), diagrams (`render_dot`), the `--check` report, `--info` JSON and
parameter counts.
"""
