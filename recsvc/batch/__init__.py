"""Batch work over many users: ``recsvc score`` and ``recsvc campaign``, written to Parquet in chunks.

The rows come from the same engine calls as the gRPC API (``ScoreUsers`` and ``Recommend``), so a
batch row equals the answer of a per-user call for the same user at the same time.
"""
