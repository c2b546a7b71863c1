"""Experiments and bandits: definitions, sticky assignment, the report's statistics, Thompson sampling.

Pure domain code: the engine records which arm a decision used, the store keeps the bandits' counts,
and the report reads these modules to say what worked and how sure it is.
"""
