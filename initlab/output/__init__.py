"""Files and pictures from records only: sealed run folders (write aside, rename, seal), the matplotlib plots, a run
folder's pictures, the boundary animation, the plot workers that draw beside a run, and a sweep's report. No live
model here: it never imports TensorFlow or Keras (the import contract checks it). It imports initlab.train's plain
modules, initlab.config and initlab.base; initlab.diagnosis is its sibling, and neither imports the other."""
