"""unet family (being written)."""
