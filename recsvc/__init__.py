"""recsvc: decides what to push to each app user, on which channel, in what words and when."""

__version__ = "0.1.0"
