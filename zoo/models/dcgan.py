"""dcgan family (being written)."""
