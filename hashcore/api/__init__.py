"""hashcore's versioned network API (generated protobuf and gRPC code lives below)."""
