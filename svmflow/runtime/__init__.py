"""Running the processors: message envelopes, the embedded bus, CloudEvent decoding."""
