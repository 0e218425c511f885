"""Helpers shared by tests: job functions a real worker can import, small servers."""
