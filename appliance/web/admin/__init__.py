"""The staff admin UI under /admin: server-rendered pages that call the same actions and queries as the API."""
