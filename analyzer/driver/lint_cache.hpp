#pragma once
// Results of earlier runs, so that a run over unchanged files reads them instead of parsing.
//
// One entry per file, under `DIR/<fingerprint>/`, where the fingerprint covers the oomlint
// binary and the effective settings (enabled rules, their options, the model's vocabularies,
// per-file ignores). An entry is valid for the file's exact text; it holds what the file's first
// look found and the facts it gives other modules, and, when the run's facts changed what the
// file's second look found, those findings with a hash of the facts they were computed from. So
// a change in one module re-lints only the modules whose findings the run's facts decide.
//
// Entries are written to a temporary file and renamed into place: two runs at once each leave a
// whole entry. An entry that does not parse or does not match is ignored and rewritten.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "analyzer/diagnostics/finding.hpp"
#include "analyzer/model/project.hpp"

namespace oomlint {

struct LintSettings;

struct CachedLint {
  std::uint64_t content = 0; // hash of the file's text
  model::ModuleSummary summary;
  std::vector<Finding> findings; // of the first look (the file alone)
  std::vector<std::string> notices;
  // The second look, with the run's facts: valid while the facts hash the same.
  std::optional<std::uint64_t> facts;
  std::vector<Finding> second_findings;
};

class LintCache {
public:
  // `root`: the cache folder (`.oomlint_cache`); entries go to a subfolder per fingerprint.
  LintCache(const std::filesystem::path& root, const LintSettings& settings);

  [[nodiscard]] std::optional<CachedLint> load(const std::string& path, std::uint64_t content) const;
  void store(const std::string& path, const CachedLint& entry) const;
  [[nodiscard]] const std::filesystem::path& folder() const { return m_folder; }

  // A stable hash of a file's text; of the facts one module gives the others; and of a whole
  // run's facts, from its modules' hashes in any order.
  static std::uint64_t hash_text(std::string_view text);
  static std::uint64_t hash_summary(const model::ModuleSummary& summary);
  static std::uint64_t hash_facts(std::vector<std::uint64_t> summary_hashes);

private:
  [[nodiscard]] std::filesystem::path entry_path(const std::string& path) const;

  std::filesystem::path m_folder;
  bool m_usable = false;
};

// Removes a cache folder (`oomlint clean`); false with a message when it cannot.
bool remove_cache(const std::filesystem::path& root, std::string& message);

} // namespace oomlint
