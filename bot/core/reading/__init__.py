"""Reading an article: sentences and chunks, the digest pipeline, grounding and its readers.

Everything here turns text (and a model's drafts) into checked facts; nothing stores.
"""
