"""Blocks shared by two or more networks."""
