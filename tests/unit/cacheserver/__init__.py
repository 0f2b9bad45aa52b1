"""Unit tests of the cache tier: pure modules and the in-process app."""
