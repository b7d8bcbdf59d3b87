"""`tlssim propagation`'s measurement: a revocation timed across every responder and staple
(`run.py`; the command is `cli/propagation.py`)."""
