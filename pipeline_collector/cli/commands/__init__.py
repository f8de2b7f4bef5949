"""One module per command; each has ``run``, which returns the exit code.

``gather``, ``plan`` and ``inspect`` take parsed arguments; ``ingress``
takes its own command line, handed over untouched.
"""
