"""Redis adapters. `keys` is the one module that knows the key schema."""
