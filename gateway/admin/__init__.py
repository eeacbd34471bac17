"""Operations: the admin API and console (gateway.admin.app, never on the public app), and what they read."""
