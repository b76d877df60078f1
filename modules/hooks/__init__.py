"""The hook host: named, versioned hook points that extensions (and built-ins) register on."""
