"""NIR <-> canonical semantics: the metadata that carries what NIR cannot, and the mapping of
NIR neuron nodes to canonical neurons (and back)."""
