"""Test fixtures that ship with the package so tests and bench scripts share them."""
