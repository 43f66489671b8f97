"""PostgreSQL access: connections, migrations, the embedded server, and one module per table."""
