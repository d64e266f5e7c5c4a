"""`initlab diagnose` and the callback's checklist on any Keras model: the graph walk as the first training step sees
it, each weighted layer's role and honest fans, the recurrent, embedding and attention checks, the verdicts, and the
report as text, JSON and CSV. It imports initlab.train, initlab.config and initlab.base; initlab.output is its sibling,
and neither imports the other."""
