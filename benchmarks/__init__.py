"""muselink benchmarks: each sub-package runs with `python -m benchmarks.<name>` and prints
ratios measured side by side in one run."""
