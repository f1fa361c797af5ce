"""Accounts and login: password hashing, name and password rules, login
throttling, and the sans-IO login screen."""
