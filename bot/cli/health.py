"""``digestbot health``: a real readiness check for containers and operators."""

from __future__ import annotations

from bot.core.service import health_checks
from bot.core.settings import Settings


async def check_health(settings: Settings, *, check_llm: bool = False) -> int:
    """Print one line per check (``bot.core.service.health_checks``); exit status 0 only if
    all pass."""
    checks = await health_checks(settings, check_llm=check_llm)
    for check in checks:
        print(f"{'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail}")
    return 0 if all(check.ok for check in checks) else 1
