"""Identity: who is calling (OIDC JWTs, personal API tokens, dev logins, upload-scoped signing tokens)."""
