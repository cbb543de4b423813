"""Lowering: AST → IR graph (constants, pipelines, `repeat`, blocks; user-declared
transforms become catalogue entries).
"""
