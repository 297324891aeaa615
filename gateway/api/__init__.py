"""HTTP layer: controllers, the one error handler, request ids, the OpenAPI document."""
