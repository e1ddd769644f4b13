"""Everything that turns the outside world into model objects (files, flow and drop
logs, alert payloads, API reads), and nothing that judges them.

Imports only the shared vocabulary (model, findings, errors) and other input modules.
"""
