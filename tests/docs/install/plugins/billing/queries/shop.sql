-- The queries the docs' sql_copy example reads (docs/connectors.md's own file is added by the test).

-- name: orders-since
SELECT id, customer, amount FROM orders WHERE created_at >= :since
