"""HTTP handlers: parse the request, call one service, serialize the result."""
