"""The model boundary: the ``LLM`` interface and its backends.

OpenAI-compatible servers, the embedded llama.cpp model (its file, its server process and the
lease that shares it), the output formats each kind of server takes, and the tokenizers.
"""
