"""Helpers of the test suite: servers, workers and fixtures shared by several test files."""
