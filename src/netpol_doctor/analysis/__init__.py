"""Questions answered with the engines: diagnose, matrix, lint, verify, diff, flows,
triage. Imports policy and inputs; returns data, never words for a terminal.
"""
