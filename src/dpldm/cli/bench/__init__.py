"""`dpldm bench NAME`: one module per benchmark, each with ``register(subparsers)``; it parses the flags into the
typed arguments of its ``dpldm.bench`` module and prints the results."""
