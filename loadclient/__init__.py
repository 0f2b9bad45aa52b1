"""Loadclient: uploads a blob, then load-tests cached GETs at a constant rate (Vegeta JSON)."""
