"""HTTP blueprints: auth (login/logout) and admin (dashboard, exports)."""
