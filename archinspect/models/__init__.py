"""The built-in families; argument names and defaults follow pdequinox 0.1.2."""
