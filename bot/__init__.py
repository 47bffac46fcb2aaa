"""article-digest-bot: digests of long news articles, with every claim quoted from the text."""

# The one place the version is written (pyproject.toml reads it from here): importing
# importlib.metadata to look it up would cost every command a tenth of a second.
__version__ = "0.1.0"
