"""The emulated stack (Pub/Sub emulator, fake-gcs-server, a local Secret Manager, one process per
function) for ``make run-emulated``, the integration and e2e tests and the benchmarks.

Development only: it sits outside ``svmflow`` so neither the wheel nor the Cloud Function archive ships it.
"""
