"""Drivers: the pipeline from text to checked models (`driver`), the Python API, the
command line and `--emit` phases. The GC pause lives here only.
"""
