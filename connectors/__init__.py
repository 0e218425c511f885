"""Provider adapters (Google Calendar, Microsoft 365, email). Core reaches them only through
the protocols and registry in ``hub.connectors``."""
