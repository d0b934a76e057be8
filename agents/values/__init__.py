"""A value teacher: retrained accuracies of many selections per state
(:mod:`agents.values.collect`), and a row-wise policy regressed on them
(:mod:`agents.values.fit`)."""
