"""The four tlssim services, one module each."""
