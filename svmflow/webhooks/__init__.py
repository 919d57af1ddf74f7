"""Completion webhooks: callback URLs checked against SSRF, Standard Webhooks 1.0 signatures, one
delivery attempt pinned to the checked address, and the retry schedule."""
