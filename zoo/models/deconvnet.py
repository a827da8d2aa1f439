"""deconvnet family (being written)."""
