"""The columns of the files a run writes, as ../shared/DESIGN.md fixes them: other programs read these files."""

LAYER_COLUMNS = [  # layers.csv: one row per weighted layer (output last) at every recorded epoch
    "epoch", "layer", "units", "activation_mean", "activation_std", "dead_fraction", "saturated_fraction",
    "weight_mean", "weight_std", "grad_norm", "distinct_units",
]
JACOBIAN_COLUMNS = [  # jacobian.csv (record.jacobian): per weighted layer (output last), its input-output Jacobian's
    "layer", "rows", "count", "mean", "variance", "max", "min", "zero_fraction", "log_std",  # squared singular values
]
