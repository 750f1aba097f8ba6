"""Gatehouse's name and version, as /-/healthz and `gatehouse --version` report them."""
NAME = "gatehouse"
VERSION = "0.1.0"
