"""Shared command-line machinery: the error base (errors.py), argument helpers (args.py) and the exit
codes every tool gives (main.py).

Empty on purpose: every layer imports runtime.cli.errors for its error base, and that must not pull
argparse helpers or anything else in with it.
"""
