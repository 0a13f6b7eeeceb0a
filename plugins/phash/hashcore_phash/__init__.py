"""pHash (imagehash's 64-bit DCT perceptual hash) as a hashcore plugin."""
