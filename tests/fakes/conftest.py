"""Make the fake Slack fixtures available to the fakes' own tests."""

from tests.fakes.slack_fixtures import fake_slack, fake_slack_client

__all__ = ["fake_slack", "fake_slack_client"]
