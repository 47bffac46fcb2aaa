"""The application: what a chat bot does with the core, whatever the chat platform. Durable
jobs with leases, the quota, chat memory, pastes; an edge drives it through ``ChatApp`` and
speaks through its own ``Replies``. Nothing here imports an edge."""
