CREATE TABLE events (
  id BIGSERIAL PRIMARY KEY,
  event_type VARCHAR(50) NOT NULL,
  user_id BIGINT,
  data TEXT,
  created_at TIMESTAMP NOT NULL
);
CREATE INDEX events_created ON events (created_at);
CREATE TABLE user_growth (date DATE PRIMARY KEY, new_users INTEGER NOT NULL, active_users INTEGER NOT NULL);
CREATE TABLE purchase_metrics (id BIGSERIAL PRIMARY KEY, user_id BIGINT NOT NULL, amount DECIMAL(12, 2) NOT NULL, date TIMESTAMP NOT NULL);
