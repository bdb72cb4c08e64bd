CREATE TABLE orders (
  id BIGINT AUTO_INCREMENT PRIMARY KEY,
  user_id BIGINT NOT NULL,
  total_amount DECIMAL(12, 2) NOT NULL,
  created_at DATETIME(6) NOT NULL
);
CREATE INDEX orders_user ON orders (user_id);
