"""Identity-provider adapters (OIDC, GitHub) implementing auth.signin.IdentityProvider."""
