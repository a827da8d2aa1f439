"""dae family (being written)."""
