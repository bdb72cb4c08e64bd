// The seed's controllers as coroutines (Boost.Asio): the same endpoints,
// answers and errors as shop.hpp's Shop, with every query awaited on the
// caller's loop instead of holding a thread. async_main.cpp serves them with
// Boost.Beast on one or two I/O threads.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <plexus/async.hpp>

#include "shop.hpp"

namespace shop {

class AsyncShop {
 public:
  /// `blocking` lends what has no asynchronous twin yet (the migrations),
  /// the /health answer's shape and the order ids.
  AsyncShop(plexus::Database& db, Shop& blocking) : m_db(db), m_blocking(blocking) {}

  boost::asio::awaitable<Reply> create_user(nlohmann::json body);
  boost::asio::awaitable<Reply> user_with_order_stats(std::int64_t id);
  boost::asio::awaitable<Reply> create_order(nlohmann::json body);
  /// The seed's Promise.all: plexus::all over three analytics queries.
  boost::asio::awaitable<Reply> dashboard();
  boost::asio::awaitable<Reply> search(std::string q);
  boost::asio::awaitable<Reply> create_shard_user(nlohmann::json body);
  boost::asio::awaitable<Reply> shard_user(std::int64_t id);
  boost::asio::awaitable<Reply> create_shard_order(nlohmann::json body);
  /// Shop::health() with every database probed at once (async_health);
  /// pending migrations retried on a thread of their own.
  boost::asio::awaitable<Reply> health();

 private:
  plexus::Database& m_db;
  Shop& m_blocking;
  boost::asio::thread_pool m_blocking_work{1};
};

}  // namespace shop
