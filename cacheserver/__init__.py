"""Cacheserver: a groupcache-style peer cache tier in front of casserver (Falcon on granian)."""
