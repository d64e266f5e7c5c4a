"""Training and measuring in memory: data sets, the MLP a config describes, LSUV, the two engines (model.fit and
one compiled loop), populations of runs in one graph, the in-graph statistics and probes behind layers.csv,
decision-boundary frames, signal-propagation theory, and RunResult, what a trained run hands upward. It imports
initlab.config and initlab.base, and never knows run folders: writing files is initlab.output's."""
