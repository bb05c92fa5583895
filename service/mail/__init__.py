"""Mail: the Mailer protocol, its SMTP and console adapters, templates and the outbox worker."""
