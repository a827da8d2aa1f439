"""fcn family (being written)."""
