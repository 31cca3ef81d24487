#include <fmt/format.h>

#include "analyzer/support/expected.hpp"

namespace oomlint {

std::string Error::describe() const {
  if (path.empty()) {
    return message;
  }
  if (line > 0 && column > 0) {
    return fmt::format("{}:{}:{}: {}", path, line, column, message);
  }
  if (line > 0) {
    return fmt::format("{}:{}: {}", path, line, message);
  }
  return fmt::format("{}: {}", path, message);
}

} // namespace oomlint
