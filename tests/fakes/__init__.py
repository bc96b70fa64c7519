"""Loopback fakes of the chat platforms, strict like the real ones, for the test suite."""
