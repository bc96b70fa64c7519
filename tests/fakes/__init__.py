"""Loopback fakes of the chat platforms, strict enough to catch what the real ones would reject."""
