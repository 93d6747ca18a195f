"""The model layer: local GGUF chat models, sentence embedders and the registry of defaults."""
