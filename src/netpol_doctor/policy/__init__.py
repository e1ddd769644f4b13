"""Policy families and data-plane behaviour: one flow in, one Decision out.

Imports the vocabulary and inputs' data classes, never analysis or render.
"""
