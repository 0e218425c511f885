"""API keys, roles and scopes, authentication, audit events."""
