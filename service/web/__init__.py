"""The small set of pages the service serves itself: sign in, sign out, reset a password."""
