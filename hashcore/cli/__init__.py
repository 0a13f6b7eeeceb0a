"""The analyst CLI: a thin shell over the same core the gRPC server uses."""
