"""What an experiment is, as plain data checked without TensorFlow: the config schema with its YAML loading and
`--set` overrides, the resource limits, the one registry of initializers (names, parameters, ranges, formulas), the
activation, optimizer and loss names, which epochs a run records, the packaged lessons and the columns of the files
a run writes. It imports only initlab.base, and never TensorFlow or Keras (the import contract checks it)."""
