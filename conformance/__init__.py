"""Conformance suite: cases generated from the spec, runners, metrics, report writers.

Named tolerances (:mod:`.tolerances`, also used by snn-convert --verify) and the generated neuron
cases (:mod:`.cases`) exist so far; the suite itself is issue 6.
"""
