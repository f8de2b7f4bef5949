"""Helpers shared by the tests: hostile peers, archive records."""
