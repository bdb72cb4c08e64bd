// Models of the seed guide: users and posts on users_db, events on analytics.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "plexus/plexus.hpp"

namespace plexus::test {

struct Post;
struct AnalyticsEvent;
struct Role;

// A std::optional member needs its type complete: Profile comes first.
struct Profile {
  std::int64_t id = 0;
  std::int64_t user_id = 0;
  std::string bio;
  static constexpr auto schema = plexus::schema("plexus_profiles", col<&Profile::id>("id", primary_key),
                                                col<&Profile::user_id>("user_id"), col<&Profile::bio>("bio"))
                                     .connection("users_db");
};

struct User {
  std::int64_t id = 0;
  std::string name;
  std::string email;
  bool is_admin = false;
  Timestamp created_at{};
  Timestamp updated_at{};
  std::vector<Post> posts;
  std::vector<AnalyticsEvent> events;
  std::vector<Role> roles;
  std::optional<Profile> profile;

  static constexpr auto schema = plexus::schema("plexus_users",
      col<&User::id>("id", primary_key),
      col<&User::name>("name"),
      col<&User::email>("email"),
      col<&User::is_admin>("is_admin", guarded),
      col<&User::created_at>("created_at", plexus::created_at),
      col<&User::updated_at>("updated_at", plexus::updated_at))
      .connection("users_db");
};

struct Post {
  std::int64_t id = 0;
  std::int64_t user_id = 0;
  std::string title;
  std::optional<User> author;
  static constexpr auto schema = plexus::schema("plexus_posts",
      col<&Post::id>("id", primary_key), col<&Post::user_id>("user_id"), col<&Post::title>("title"))
      .connection("users_db");
};

struct AnalyticsEvent {
  std::int64_t id = 0;
  std::int64_t user_id = 0;
  std::string event_type;
  std::optional<std::string> data;
  static constexpr auto schema = plexus::schema("plexus_events",
      col<&AnalyticsEvent::id>("id", primary_key), col<&AnalyticsEvent::user_id>("user_id"),
      col<&AnalyticsEvent::event_type>("event_type"), col<&AnalyticsEvent::data>("data"))
      .connection("analytics");
};

struct Role {
  std::int64_t id = 0;
  std::string name;
  static constexpr auto schema =
      plexus::schema("plexus_roles", col<&Role::id>("id", primary_key), col<&Role::name>("name")).connection("analytics");
};

/// No connection in the schema: bound at run time, as objection's bindKnex does.
struct Product {
  std::int64_t id = 0;
  std::string name;
  double price = 0;
  static constexpr auto schema = plexus::schema("products", col<&Product::id>("id", primary_key),
                                                col<&Product::name>("name"), col<&Product::price>("price"));
};
struct Category {
  std::int64_t id = 0;
  std::string name;
  static constexpr auto schema =
      plexus::schema("categories", col<&Category::id>("id", primary_key), col<&Category::name>("name"));
};

inline constexpr auto posts_of_user = has_many<&User::posts, &Post::user_id>();
inline constexpr auto events_of_user = has_many<&User::events, &AnalyticsEvent::user_id>();
inline constexpr auto profile_of_user = has_one<&User::profile, &Profile::user_id>();
inline constexpr auto author_of_post = belongs_to<&Post::author, &Post::user_id>();
inline const auto roles_of_user = belongs_to_many<&User::roles>("plexus_role_user", "user_id", "role_id");

}  // namespace plexus::test
