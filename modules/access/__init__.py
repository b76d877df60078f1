"""Who may do how much: back-off after wrong passwords (used by the API and the UI login)."""
