"""The functions' runtime, an adapter of the core: the processor that runs a handler on a delivery,
the embedded bus, CloudEvent decoding, and what the local host needs (free ports, memory)."""
