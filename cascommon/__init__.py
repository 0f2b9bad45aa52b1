"""Code shared by two or more of casserver, cacheserver and loadclient."""
