"""Shared core: source text and spans, diagnostics and their codes, data domains and tensor
types with their parts, identifiers, files. Imports nothing else of the compiler.
"""
