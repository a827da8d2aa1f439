"""cae family (being written)."""
