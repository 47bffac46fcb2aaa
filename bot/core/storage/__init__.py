"""Storage: the database, the article store and cache, the register and the spool for outages."""
