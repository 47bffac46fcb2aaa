"""The analyst's desk over the register: briefs and watchlists."""
