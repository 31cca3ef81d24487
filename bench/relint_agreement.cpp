// How often the language server's incremental lint (relint_scope.hpp) agrees with a lint of the
// whole edited file, and what each costs, on real files.
//
// usage: oomlint_relint_agreement [--show N] FILE... | @LIST
//
// Per file, per top-level statement: a space typed at the end of its first line, and a middle
// line of its body replaced by `pass` (tests/support/relint_check.hpp). Prints how many edits
// were linted incrementally, how many of those agreed with the whole lint, the first N
// disagreements, and the median and 95th percentile of both lints' times.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "analyzer/config/config.hpp"
#include "rules/registry.hpp"
#include "tests/support/relint_check.hpp"

namespace {

std::vector<std::string> inputs(int argc, char** argv, int& show) {
  std::vector<std::string> out;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--show" && i + 1 < argc) {
      show = std::stoi(argv[++i]);
    } else if (arg.starts_with("@")) {
      std::ifstream list(arg.substr(1));
      for (std::string line; std::getline(list, line);) {
        if (!line.empty()) {
          out.push_back(line);
        }
      }
    } else {
      out.push_back(arg);
    }
  }
  return out;
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) {
    return 0;
  }
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5)];
}

} // namespace

int main(int argc, char** argv) {
  int show = 10;
  const std::vector<std::string> files = inputs(argc, argv, show);
  oomlint::Config config;
  oomlint::LintSettings settings;
  settings.rules = oomlint::rules::all_rules();
  settings.enabled = oomlint::enabled_codes(config, {}, oomlint::rules::catalog());
  settings.config = &config;
  oomlint::syntax::Parser parser;
  std::size_t edits = 0, in_definitions = 0, incremental = 0, incremental_in_definitions = 0, agreed = 0, shown = 0;
  std::vector<double> fast, whole;
  for (const std::string& path : files) {
    std::ifstream in(path, std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto source = std::make_shared<const oomlint::SourceFile>(path, text);
    const auto before = oomlint::lint_buffer_incrementally(source, parser, settings, nullptr, nullptr);
    if (before.report.error || !before.tree || ts_node_has_error(before.tree.root())) {
      continue;
    }
    for (const auto& c : oomlint::relint_check::cases(before.units, source->text())) {
      const auto outcome = oomlint::relint_check::run(path, source->text(), before, c, parser, settings);
      ++edits;
      in_definitions += c.in_definition ? 1 : 0;
      if (!outcome.incremental) {
        continue;
      }
      ++incremental;
      incremental_in_definitions += c.in_definition ? 1 : 0;
      fast.push_back(outcome.incremental_ms);
      whole.push_back(outcome.whole_ms);
      if (outcome.difference.empty()) {
        ++agreed;
      } else if (shown < static_cast<std::size_t>(show)) {
        ++shown;
        std::printf("%s, %s:\n      %s\n", path.c_str(), c.label.c_str(), outcome.difference.c_str());
      }
    }
  }
  std::printf("files %zu, edits %zu, linted incrementally %zu, agreeing with a whole lint %zu (%.2f%%)\n", files.size(),
              edits, incremental, agreed,
              incremental == 0 ? 100.0 : 100.0 * static_cast<double>(agreed) / static_cast<double>(incremental));
  std::printf("edits inside a function or class: %zu, linted incrementally %zu\n", in_definitions,
              incremental_in_definitions);
  std::printf(
      "incremental lint: median %.2f ms, p95 %.2f ms; whole lint of the same texts: median %.2f ms, p95 %.2f ms\n",
      percentile(fast, 0.5), percentile(fast, 0.95), percentile(whole, 0.5), percentile(whole, 0.95));
  return 0;
}
