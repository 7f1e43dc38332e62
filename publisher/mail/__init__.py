"""Mail: which articles an issue holds, drafts rendered once, messages personalised per reader,
signed tokens, the confirmation mail, the subscriber lists operators import, the sender with its
reply classification and delivery policy, and the transports (the only code that imports
aiosmtplib).

May import: ``site`` (the Jinja2 environment and the fidelity gate), ``store``, the top modules.
Never the service or the commands.
"""
