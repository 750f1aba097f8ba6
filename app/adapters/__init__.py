"""The only modules that talk to MongoDB, Redis and HTTP peers."""
