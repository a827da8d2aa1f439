"""cgan family (being written)."""
