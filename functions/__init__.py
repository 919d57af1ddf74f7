"""Cloud Functions entry points: decode the CloudEvent, call the core, done."""
