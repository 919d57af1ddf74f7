"""One handler per processor: plain functions, their dependencies passed by name."""
