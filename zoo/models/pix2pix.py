"""pix2pix family (being written)."""
