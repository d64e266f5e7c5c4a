"""Experiments end to end: one run (config -> data -> model -> engine -> run folder), sweeps (plan, group, resume),
where their groups train (here, spawned local workers, Dask), `initlab reproduce` and the papers' replayed claims.
It may import every layer below it (output, diagnosis, train, config, base); only the faces import it."""
