"""The store: the only code that speaks SQL (SQLAlchemy). Schema, engines and migrations (run
under a lock), articles and outputs, subscribers, the outbox (issues, deliveries, leases), the
abuse counters, named locks and leadership. Small classes, each over what it keeps, composed
rather than inherited; each method one short transaction.

May import: ``config``, ``errors``, ``models``, ``text``, ``addresses``. Never content, the site,
mail or the service.
"""
