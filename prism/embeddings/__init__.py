"""Image and text embedders behind one small interface (see base.py)."""
