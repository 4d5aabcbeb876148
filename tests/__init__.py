"""Tests of the back-office suite (a package so tests can import ``tests.support``)."""
