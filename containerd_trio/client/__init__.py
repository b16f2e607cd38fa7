"""The client side: ``ctr-trio`` (the CLI) and its HTTP client (:mod:`.http`'s ``Client``).

Kept free of imports: every ``ctr-trio`` call loads this package first.
"""
