"""Casserver: a durable, verifying content-addressable blob store (Falcon on granian)."""
