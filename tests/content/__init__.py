"""Tests of publisher.content: reading content files."""
