// A look at a session's socket without a round trip (private to src/).
#pragma once

namespace plexus::detail {

/// True when nothing is waiting to be read on `fd`: for a session that sits
/// idle between statements, anything readable (bytes or the end of the
/// stream) means the server has closed it or is closing it. False for an
/// invalid descriptor.
bool socket_quiet(int fd) noexcept;

}  // namespace plexus::detail
