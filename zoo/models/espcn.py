"""espcn family (being written)."""
