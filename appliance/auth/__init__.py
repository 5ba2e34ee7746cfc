"""Staff accounts, roles, sessions, API tokens and the guards that check them."""
