"""hashcore's gRPC server: the engine on the network, with tokens, TLS, audit and metrics."""
