"""Input and output: reading signals and kernels, writing results."""
