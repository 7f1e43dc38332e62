"""Tests of publisher.config: settings and cron lines."""
