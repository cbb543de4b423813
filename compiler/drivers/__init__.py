"""Drivers: the pipeline from text to checked models (`driver`), the Python API, the
command line and `--emit` phases, and finding the modules of user transforms
(`impl_modules`). The GC pause lives here only.
"""
