"""Test-only helpers that bring up real local services (never imported by the bot)."""
