-- PostgreSQL announces committed alerts to every node (LISTEN/NOTIFY); an SQLite store is one node, whose
-- streams hear its own alerts directly. Nothing to change here; the number keeps both schemas in step.
SELECT 1;
