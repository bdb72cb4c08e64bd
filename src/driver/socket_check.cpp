#include "driver/socket_check.hpp"

#include <poll.h>

namespace plexus::detail {

bool socket_quiet(int fd) noexcept {
  if (fd < 0) return false;
  pollfd pfd{fd, POLLIN, 0};
  const int rc = ::poll(&pfd, 1, 0);
  if (rc < 0) return true;  // EINTR and the like say nothing about the peer
  return rc == 0;
}

}  // namespace plexus::detail
