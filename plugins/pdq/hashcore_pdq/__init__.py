"""PDQ, Meta's 256-bit perceptual image hash, as a hashcore plugin."""
