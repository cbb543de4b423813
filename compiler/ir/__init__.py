"""The IR: one networkx graph per model (`graph`) and its invariants (`verify`). Imports `core`
and the catalogue's plain records.
"""
