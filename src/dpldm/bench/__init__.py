"""Benchmarks that print numbers: each module has ``register(subparsers)`` adding one ``dpldm bench NAME``."""
