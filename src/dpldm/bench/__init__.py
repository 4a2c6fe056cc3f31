"""Benchmarks that measure numbers, as a library: settings dataclasses in, results (plain dicts) out. The
``dpldm bench NAME`` commands, which parse flags into those settings and print the results, are the CLI's."""
