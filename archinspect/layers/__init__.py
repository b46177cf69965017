"""Building blocks of the built-in families (Equinox modules, channels-first, unbatched)."""
