"""Where and how the app writes files: durable replacement with backups, and the folders
output may go to (docs/SECURITY.md)."""
