"""`tlssim load`: handshakes at a fixed rate or concurrency, with a latency histogram."""
