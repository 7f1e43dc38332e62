"""Tests of publisher.service: the web process and the worker."""
