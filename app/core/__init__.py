"""Protocol and security rules. Imports no web framework and no driver."""
