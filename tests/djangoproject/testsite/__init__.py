"""A small Django service for the tests: its settings and its collectors."""
