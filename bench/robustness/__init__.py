"""Robustness benchmark (``make bench-robustness``): recall per edit, distinct-pair distances and
expected accidental matches, measured through the real store + :class:`hashcore.engine.Engine`.

Modules: :mod:`.corpus` (fetch and prepare the photographs), :mod:`.edits` (the re-upload
edits), :mod:`.evaluate` (bank, look up, distances), :mod:`.video` (TMK part), :mod:`.report`
(markdown and plots), :mod:`.__main__` (the command).
"""
