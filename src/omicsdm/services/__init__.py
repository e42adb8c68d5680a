"""Use cases. Services flush; the request's session dependency commits or rolls back."""
