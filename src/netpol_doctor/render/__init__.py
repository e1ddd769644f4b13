"""Renderers: a result object in, a string out (text, json, markdown, csv)."""
