#include "analyzer/diagnostics/finding.hpp"

namespace oomlint {

std::string_view to_string(Severity s) {
  switch (s) {
  case Severity::Info:
    return "info";
  case Severity::Warning:
    return "warning";
  case Severity::Error:
    return "error";
  }
  return "warning";
}

std::string_view to_string(Applicability a) {
  return a == Applicability::Safe ? "safe" : "unsafe";
}

std::string_view to_string(FixAvailability f) {
  switch (f) {
  case FixAvailability::Never:
    return "never";
  case FixAvailability::Sometimes:
    return "sometimes";
  case FixAvailability::Always:
    return "always";
  }
  return "never";
}

} // namespace oomlint
