"""Adapters: one implementation of each port per mode."""
