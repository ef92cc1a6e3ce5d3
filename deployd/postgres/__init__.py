"""The PostgreSQL server of the apps' databases: its admin, and the tools that dump and
restore them."""
