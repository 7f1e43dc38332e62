"""The site: the one Jinja2 environment, article and list pages, feeds (feedgen), the fidelity
gate, the export to ``public/`` (its only writer), WebSub pings and the publish run that wires
content, store and site together.

May import: ``content``, ``store`` (only the publish run and the export talk to it), the top
modules. Builders take values and return bytes. Never mail or the service.
"""
