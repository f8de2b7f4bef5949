"""Bookkeeping: what has shipped, what failed, what each key's CSV header was.

``ledger`` holds the pure rules, ``bookkeeper`` the one place a run saves the
state, ``schemas`` and ``health`` the records kept beside the entries,
``status`` the operator's view, and ``codec`` how a state is written down.
Nothing is re-exported here.
"""
