"""Serves nanochat checkpoints through an OpenAI-compatible API (see README.md)."""
