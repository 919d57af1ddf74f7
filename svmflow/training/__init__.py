"""Training as named steps: gather, fit, evaluate, decide, store, promote."""
