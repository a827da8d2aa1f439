"""deblur family (being written)."""
