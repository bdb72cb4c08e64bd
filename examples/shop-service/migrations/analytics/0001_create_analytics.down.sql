DROP TABLE purchase_metrics;
DROP TABLE user_growth;
DROP TABLE events;
