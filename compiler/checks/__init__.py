"""The checks: arguments, shapes, domains and folds, density accounting, likelihood class,
composition with used models, and the driver of these passes (`check`).
"""
