"""Tests of publisher.mail: planning, messages, the sender and its transports."""
