"""Replay scenarios through the real pipeline and measure whether retraining makes the model better.

A scenario streams batches of rows the seed training never saw, may change the data part-way (a drift),
and answers every prediction with feedback from a policy (honest, noisy or adversarial). The replay
records, per batch and per model version, accuracy on the truth and what the promotion gate decided.
"""
