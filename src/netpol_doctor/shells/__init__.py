"""Thin shells over the library (command-line subcommands, servers, the probe):
parse arguments, call analysis, hand the result to render. No semantics here.
"""
