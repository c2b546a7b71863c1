"""Generated gRPC code for ``recsvc.v1`` (``make protos``); never edited by hand, not in git."""
