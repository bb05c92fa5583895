"""Authentication: passwords, sessions (Coder API keys), login, rate limits. No HTTP, no Redis."""
