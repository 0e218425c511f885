"""Tests of the connector packages, one folder per connector."""
