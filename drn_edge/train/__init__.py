"""Training: the data sources and the loop."""
