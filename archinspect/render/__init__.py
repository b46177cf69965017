"""Renderers: Report -> text. The only modules that import rich; they never compute."""
