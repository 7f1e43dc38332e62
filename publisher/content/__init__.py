"""Content: files in ``content/`` → :class:`publisher.models.Article` values or problems naming
the file (walking the folder, waiting for files to settle, front matter, capture profiles).

May import: ``config``, ``errors``, ``models``, ``text``, ``urls``. Never the store, SQL, the
site, mail or the service: reading a file is a pure step that any stage can be tested without.
"""
