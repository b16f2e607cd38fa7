"""The client side: ``ctr-trio`` (the CLI), its HTTP client, and the benchmark."""
