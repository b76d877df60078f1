"""Linear-time readers for user text (infotext pairs, BREAK, attention weights): no regex here
may backtrack over long input (docs/SECURITY.md)."""
