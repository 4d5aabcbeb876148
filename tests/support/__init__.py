"""Helpers shared by the tests: the real servers, mailboxes on them, test data."""
