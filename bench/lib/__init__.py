"""Shared code of the benchmark suite (`bench/run.py`, `bench/sections/`,
`bench/docs.py`): the run context, summary rows and goals, plots."""
