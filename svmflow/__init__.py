"""svmflow: a serverless CQRS prediction pipeline (ingest, predict, correct, retrain, promote)."""

__version__ = "0.1.0"
