"""Moved to core.verifiers.external; this name stays only until app/core/bff.py imports it from
there (its owner reshapes that module on another branch). Nothing else may import it."""
from ..verifiers.external import ExternalVerifier

__all__ = ["ExternalVerifier"]
