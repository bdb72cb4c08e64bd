-- The same tables on every member of users_shards / orders_shards; ids are
-- given by the service, so no engine's auto-increment is involved.
CREATE TABLE users (id BIGINT PRIMARY KEY, name VARCHAR(100) NOT NULL, email VARCHAR(255) NOT NULL);
CREATE TABLE orders (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL, total_amount DECIMAL(12, 2) NOT NULL, created_at DATETIME(6) NOT NULL);
CREATE INDEX orders_user ON orders (user_id);
