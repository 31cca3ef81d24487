// Formats CI systems read: SARIF 2.1.0 (code scanning), GitHub workflow annotations, JUnit XML and
// GitLab Code Quality.
#include <algorithm>
#include <cctype>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "analyzer/output/emitter.hpp"
#include "analyzer/support/strings.hpp"

namespace oomlint {

namespace {

std::string_view sarif_level(Severity s) {
  switch (s) {
  case Severity::Error:
    return "error";
  case Severity::Warning:
    return "warning";
  case Severity::Info:
    return "note";
  }
  return "warning";
}

// RFC 3986: keep unreserved characters and `/`, percent-encode the rest.
std::string uri_path(std::string_view path) {
  std::string out;
  for (const char c : path) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0 || c == '-' || c == '.' || c == '_' || c == '~' || c == '/') {
      out += c;
    } else {
      out += fmt::format("%{:02X}", u);
    }
  }
  return out;
}

nlohmann::json artifact_location(std::string_view path) {
  std::string p(path);
  while (p.starts_with("./")) {
    p.erase(0, 2);
  }
  if (p.starts_with("/")) {
    return {{"uri", "file://" + uri_path(p)}};
  }
  return {{"uri", uri_path(p)}, {"uriBaseId", "%SRCROOT%"}};
}

nlohmann::json region(const SourceFile& source, std::uint32_t start, std::uint32_t end) {
  const RowCol a = source.position(start);
  const RowCol b = source.position(std::max(start, end));
  return {{"startLine", a.row + 1}, {"startColumn", a.column + 1}, {"endLine", b.row + 1}, {"endColumn", b.column + 1}};
}

nlohmann::json sarif_rule(const RuleMeta& m, const std::string& url) {
  std::string help = std::string(m.what) + "\n\n" + std::string(m.why);
  return {{"id", std::string(m.code)},
          {"name", std::string(m.name)},
          {"shortDescription", {{"text", std::string(m.summary)}}},
          {"fullDescription", {{"text", std::string(m.what)}}},
          {"help", {{"text", help}}},
          {"helpUri", url},
          {"defaultConfiguration", {{"level", std::string(sarif_level(m.severity))}, {"enabled", m.default_enabled}}},
          {"properties", {{"tags", {"memory", "pytorch"}}}}};
}

// GitHub's workflow commands: property values escape `%`, CR, LF, `:` and `,`; the message
// escapes `%`, CR and LF.
std::string escape_data(std::string_view s) {
  std::string out;
  for (const char c : s) {
    switch (c) {
    case '%':
      out += "%25";
      break;
    case '\r':
      out += "%0D";
      break;
    case '\n':
      out += "%0A";
      break;
    default:
      out += c;
    }
  }
  return out;
}

std::string escape_property(std::string_view s) {
  std::string out;
  for (const char c : escape_data(s)) {
    if (c == ':') {
      out += "%3A";
    } else if (c == ',') {
      out += "%2C";
    } else {
      out += c;
    }
  }
  return out;
}

} // namespace

std::string emit_sarif(const std::vector<FileReport>& reports, const std::vector<const RuleMeta*>& catalog,
                       const EmitOptions& options, std::string_view version) {
  nlohmann::json rules = nlohmann::json::array();
  std::map<std::string, size_t> index;
  for (const RuleMeta* m : catalog) {
    index[std::string(m->code)] = rules.size();
    rules.push_back(sarif_rule(*m, options.docs_url_base + std::string(m->code) + ".md"));
  }
  nlohmann::json results = nlohmann::json::array();
  for (const FileReport& r : reports) {
    if (!r.source) {
      continue;
    }
    for (const Finding& f : r.findings) {
      nlohmann::json result = {
          {"ruleId", f.code},
          {"level", std::string(sarif_level(f.severity))},
          {"message", {{"text", f.message}}},
          {"locations",
           {{{"physicalLocation",
              {{"artifactLocation", artifact_location(r.path)}, {"region", region(*r.source, f.start, f.end)}}}}}}};
      if (auto it = index.find(f.code); it != index.end()) {
        result["ruleIndex"] = it->second;
      }
      if (!f.related.empty()) {
        nlohmann::json related = nlohmann::json::array();
        int id = 0;
        for (const Related& note : f.related) {
          related.push_back({{"id", id++},
                             {"message", {{"text", note.message}}},
                             {"physicalLocation",
                              {{"artifactLocation", artifact_location(r.path)},
                               {"region", region(*r.source, note.start, note.end)}}}});
        }
        result["relatedLocations"] = std::move(related);
      }
      if (f.fix) {
        nlohmann::json replacements = nlohmann::json::array();
        for (const Edit& e : f.fix->edits) {
          replacements.push_back(
              {{"deletedRegion", region(*r.source, e.start, e.end)}, {"insertedContent", {{"text", e.content}}}});
        }
        result["fixes"] = {
            {{"description", {{"text", f.fix->message}}},
             {"artifactChanges", {{{"artifactLocation", artifact_location(r.path)}, {"replacements", replacements}}}}}};
      }
      results.push_back(std::move(result));
    }
  }
  nlohmann::json log = {{"$schema", "https://json.schemastore.org/sarif-2.1.0.json"},
                        {"version", "2.1.0"},
                        {"runs",
                         {{{"tool",
                            {{"driver",
                              {{"name", "oomlint"},
                               {"version", std::string(version)},
                               {"informationUri", options.docs_url_base + "README.md"},
                               {"rules", rules}}}}},
                           {"columnKind", "unicodeCodePoints"},
                           {"results", results}}}}};
  return log.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string emit_github(const std::vector<FileReport>& reports) {
  std::string out;
  for (const FileReport& r : reports) {
    if (!r.source) {
      continue;
    }
    for (const Finding& f : r.findings) {
      const RowCol a = r.source->position(f.start);
      const RowCol b = r.source->position(std::max(f.start, f.end));
      const std::string_view level = f.severity == Severity::Error     ? "error"
                                     : f.severity == Severity::Warning ? "warning"
                                                                       : "notice";
      out += fmt::format("::{} title={},file={},line={},col={},endLine={},endColumn={}::{}\n", level,
                         escape_property(fmt::format("oomlint ({})", f.code)), escape_property(r.path), a.row + 1,
                         a.column + 1, b.row + 1, b.column + 1, escape_data(fmt::format("{} {}", f.code, f.message)));
    }
  }
  return out;
}

namespace {

// FNV-1a: a fingerprint that stays the same across runs, machines and compilers.
std::uint64_t fnv1a(std::string_view s, std::uint64_t h = 1469598103934665603ULL) {
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  return h;
}

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

} // namespace

std::string emit_junit(const std::vector<FileReport>& reports) {
  std::string suites;
  size_t total = 0;
  for (const FileReport& r : reports) {
    if (!r.source || r.findings.empty()) {
      continue;
    }
    std::string cases;
    for (const Finding& f : r.findings) {
      const RowCol at = r.source->position(f.start);
      cases += fmt::format("    <testcase name=\"org.oomlint.{}\" classname=\"{}\" file=\"{}\" line=\"{}\">\n"
                           "      <failure message=\"{}\">line {}, column {}: {}</failure>\n    </testcase>\n",
                           f.code, escape_markup(r.path), escape_markup(r.path), at.row + 1, escape_markup(f.message),
                           at.row + 1, at.column + 1, escape_markup(f.message));
    }
    suites += fmt::format("  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\">\n{}  </testsuite>\n",
                          escape_markup(r.path), r.findings.size(), r.findings.size(), cases);
    total += r.findings.size();
  }
  return fmt::format("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"oomlint\" tests=\"{}\" "
                     "failures=\"{}\" errors=\"0\">\n{}</testsuites>\n",
                     total, total, suites);
}

std::string emit_gitlab(const std::vector<FileReport>& reports) {
  nlohmann::json out = nlohmann::json::array();
  for (const FileReport& r : reports) {
    if (!r.source) {
      continue;
    }
    std::map<std::uint64_t, int> seen; // the same finding twice on equal lines stays two entries
    for (const Finding& f : r.findings) {
      const RowCol a = r.source->position(f.start);
      const RowCol b = r.source->position(std::max(f.start, f.end));
      // The line's text rather than its number: a finding keeps its fingerprint when lines move.
      std::uint64_t h = fnv1a(r.path);
      h = fnv1a(f.code, h);
      h = fnv1a(trimmed(r.source->line_text(a.row)), h);
      h = fnv1a(std::to_string(seen[h]++), h);
      const std::string_view severity = f.severity == Severity::Error     ? "major"
                                        : f.severity == Severity::Warning ? "minor"
                                                                          : "info";
      out.push_back({{"description", fmt::format("{}: {}", f.code, f.message)},
                     {"check_name", f.code},
                     {"fingerprint", fmt::format("{:016x}", h)},
                     {"severity", severity},
                     {"location", {{"path", r.path}, {"lines", {{"begin", a.row + 1}, {"end", b.row + 1}}}}}});
    }
  }
  return out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

} // namespace oomlint
