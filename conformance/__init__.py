"""Conformance suite: cases generated from the spec, runners, metrics, report writers.

Only the named tolerances (:mod:`.tolerances`) exist so far; the suite itself is issue 6.
"""
