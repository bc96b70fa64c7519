"""Loopback fakes of the platforms and APIs digestbot talks to: real clients, fake servers on 127.0.0.1."""
