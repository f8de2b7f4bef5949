"""Helpers of the test suite: servers, workers, hostile peers and fixtures shared by several test files."""
