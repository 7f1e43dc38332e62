"""Tests of publisher.cli: the commands, as real processes."""
