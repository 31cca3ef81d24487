// libFuzzer target: bytes as a log, fed to the scanner in chunks of a size the input picks, then
// diagnosed and rendered. Whatever the bytes, the scanner must not crash, hang or break its own
// accounting.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

#include "analyzer/explain/explanation.hpp"
#include "analyzer/explain/log_scanner.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const std::size_t chunk = 1 + data[0] % 64U;
  const std::string_view log(reinterpret_cast<const char*>(data) + 1, size - 1);
  oomlint::explain::LogScanner scanner;
  for (std::size_t at = 0; at < log.size(); at += chunk) {
    scanner.feed(log.substr(at, chunk));
  }
  const oomlint::explain::Explanation e = oomlint::explain::explain("fuzz.log", scanner.finish());
  if (e.scan.messages.size() > e.scan.oom_count ||
      (e.scan.last_complete && e.diagnosis == oomlint::explain::Diagnosis::Unparseable)) {
    std::abort();
  }
  (void)oomlint::explain::render_text(e);
  (void)oomlint::explain::render_json(e).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return 0;
}
