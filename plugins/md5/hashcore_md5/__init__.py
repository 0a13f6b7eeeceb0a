"""MD5 of the raw bytes of any file, as a hashcore plugin."""
