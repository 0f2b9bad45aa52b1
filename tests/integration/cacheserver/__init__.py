"""Integration tests of the cache tier: real casserver and cacheserver processes on loopback."""
