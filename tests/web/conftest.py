"""Fixtures shared by the page tests: `world` (the accounts every page test signs in
as) is defined beside the tests it grew up with and offered to the other modules here."""

from tests.web.test_pages import world

__all__ = ["world"]
