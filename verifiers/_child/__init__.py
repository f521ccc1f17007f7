"""Scripts that run in the sandbox's child processes, and the codec they share with the parent.

Every module here uses the standard library only: the jailed interpreter runs with `-I -S`
and sees no site-packages. The parent imports `wire` from here; the children import it by
path (see `harness.py`).
"""
