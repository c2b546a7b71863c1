"""What a user's ``feedback`` events change: the payload they carry, the effects of their reasons on
ranking and send time (caps live in :mod:`recsvc.frequency.caps`), and the satisfaction survey."""
