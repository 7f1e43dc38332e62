"""publisher: content/ → articles → feeds, pages and digests, attribution and disclaimer intact."""

__version__ = "0.1.0"
