"""The store: the only code that speaks SQL (SQLAlchemy). Small classes, each over what it
keeps, composed rather than inherited; each method one short transaction.

- ``schema``, ``engine`` (connect and migrate, under a lock), ``records`` (the values it hands
  out, article identity);
- the publishing side, one :class:`~publisher.store.publishing.Store` of rooms sharing one
  write transaction (``writes``): ``articles``, ``bookkeeping`` (the scan cache; the backlog,
  export journal, signature and problems of a build), ``outputs``;
- the mail side, one :class:`~publisher.store.outbox.Outbox` of rooms: ``subscribers``,
  ``issues`` (with the digests' ledger), ``deliveries`` (claims, leases, relays); ``tally``,
  what it holds for the operator;
- what the processes share: ``meta`` (job runs, task health, the form key), ``status`` (what
  status pages read), ``limits`` (abuse counters), ``locks`` and ``leadership``.

A process that only reads (the web) takes the readers it needs over a bare engine.

May import: ``config``, ``errors``, ``models``, ``text``, ``addresses``. Never content, the site,
mail or the service.
"""
