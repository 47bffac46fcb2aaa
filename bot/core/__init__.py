"""The core: everything but Telegram. Edges import from here; nothing here imports an edge."""
