"""One blueprint per concern; each module exposes `bp`."""
