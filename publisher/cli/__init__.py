"""Commands: the only place a :class:`publisher.errors.PublisherError` becomes a message and an
exit code, and the only code that prints."""
