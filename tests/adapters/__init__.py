"""Tests of the pure platform renderers (no Discord or Slack needed)."""
