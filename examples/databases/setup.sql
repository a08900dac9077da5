-- The database side of examples/databases/escrow.yaml: a database, a table, and the template role whose grants
-- every task's role gets. Run once as a superuser: psql -h 127.0.0.1 -U postgres -f examples/databases/setup.sql
CREATE DATABASE escrow_example;
CREATE ROLE escrow_example_reader NOLOGIN;
GRANT CONNECT ON DATABASE escrow_example TO escrow_example_reader;
\connect escrow_example
CREATE TABLE orders (id int PRIMARY KEY, customer text, total numeric(10, 2), placed_on date);
INSERT INTO orders VALUES
  (1, 'Acme', 120.00, '2025-01-06'), (2, 'Globex', 75.50, '2025-01-07'), (3, 'Acme', 40.25, '2025-01-09');
GRANT SELECT ON orders TO escrow_example_reader;
-- In production, Escrow's own admin role (docs/databases.md):
--   CREATE ROLE escrow_admin LOGIN CREATEROLE PASSWORD '…';
