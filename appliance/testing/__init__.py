"""Test support for our suite and for plugin authors: builders that go through actions."""
