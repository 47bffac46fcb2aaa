"""article-digest-bot: digests of long news articles, with every claim quoted from the text."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("article-digest-bot")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
