"""Tests of the runtime ``survae_dsl.nn``: its layers checked as maths, in float64."""
