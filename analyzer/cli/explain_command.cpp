#include "analyzer/cli/explain_command.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "analyzer/explain/explanation.hpp"
#include "analyzer/explain/log_scanner.hpp"
#include "analyzer/support/strings.hpp"

namespace oomlint::cli {

namespace {

namespace fs = std::filesystem;

constexpr std::size_t kChunk = 1U << 20U;
constexpr std::size_t kMaxFindings = 50;

struct FileCloser {
  void operator()(std::FILE* f) const {
    if (f != nullptr && f != stdin) {
      std::fclose(f);
    }
  }
};

// Streams the log through the scanner in fixed-size chunks: memory does not grow with the log.
std::optional<std::string> scan_log(const std::string& input, explain::LogScanner& scanner) {
  std::unique_ptr<std::FILE, FileCloser> file;
  if (input == "-") {
    file.reset(stdin);
  } else {
    std::error_code ec;
    if (fs::is_directory(input, ec)) {
      return fmt::format("{} is a folder: give the log file to read (or `-` for stdin)", printable(input));
    }
    file.reset(std::fopen(input.c_str(), "rb"));
    if (!file) {
      return fmt::format("cannot read {}: {}; give the path of a log file, or `-` to read stdin", printable(input),
                         std::strerror(errno));
    }
  }
  std::vector<char> buffer(kChunk);
  while (true) {
    const std::size_t n = std::fread(buffer.data(), 1, buffer.size(), file.get());
    if (n > 0) {
      scanner.feed(std::string_view(buffer.data(), n));
    }
    if (n < buffer.size()) {
      if (std::ferror(file.get()) != 0) {
        return fmt::format("reading {} failed: {}", input == "-" ? std::string("stdin") : printable(input),
                           std::strerror(errno));
      }
      break;
    }
  }
  return std::nullopt;
}

bool is_project_file(const std::string& file) {
  return file.ends_with(".py") && file.find("site-packages") == std::string::npos &&
         file.find("dist-packages") == std::string::npos && file.find('<') == std::string::npos;
}

// The frame's file on this machine: as written, beside the log, or (for a path from another
// machine, `/workspace/proj/train.py`) the longest tail of it that exists here.
std::optional<fs::path> locate(const std::string& file, const fs::path& log_dir) {
  std::error_code ec;
  const fs::path written(file);
  if (fs::is_regular_file(written, ec)) {
    return written;
  }
  if (written.is_relative() && !log_dir.empty() && fs::is_regular_file(log_dir / written, ec)) {
    return log_dir / written;
  }
  std::vector<fs::path> parts(written.begin(), written.end());
  for (std::size_t keep = std::min<std::size_t>(parts.size(), 5); keep >= 1; --keep) {
    fs::path tail;
    for (std::size_t i = parts.size() - keep; i < parts.size(); ++i) {
      tail /= parts[i];
    }
    if (tail.is_relative() && fs::is_regular_file(tail, ec)) {
      return tail;
    }
  }
  return std::nullopt;
}

struct UserFrame {
  fs::path path;
  std::uint64_t line = 0;
};

// Lints the project files the traceback names and links each finding to its nearest frame.
std::vector<explain::LinkedFinding> findings_near(const std::vector<explain::Frame>& frames, const fs::path& log_dir,
                                                  service::LintService& lint_service) {
  std::vector<UserFrame> user; // innermost first
  for (auto it = frames.rbegin(); it != frames.rend(); ++it) {
    if (!is_project_file(it->file)) {
      continue;
    }
    if (auto where = locate(it->file, log_dir)) {
      user.push_back(UserFrame{where->lexically_normal(), it->line});
    }
  }
  if (user.empty()) {
    return {};
  }
  std::vector<LintInput> inputs;
  std::map<std::string, bool> seen;
  for (const UserFrame& f : user) {
    if (!seen[f.path.string()]) {
      seen[f.path.string()] = true;
      inputs.push_back(LintInput{f.path.string(), nullptr});
    }
  }
  auto settings = lint_service.settings_for(user.front().path, service::Overrides{});
  if (!settings) {
    return {};
  }
  const ProjectRun run = lint_service.lint(inputs, **settings, 2);
  std::vector<explain::LinkedFinding> out;
  for (const FileReport& report : run.reports) {
    if (!report.source) {
      continue;
    }
    for (const Finding& finding : report.findings) {
      const RowCol at = report.source->position(finding.start);
      explain::LinkedFinding linked{report.path, at.row + 1, at.column + 1, finding.code, finding.message, 0, 0, 0};
      bool placed = false;
      for (std::size_t rank = 0; rank < user.size(); ++rank) {
        if (user[rank].path.string() != report.path) {
          continue;
        }
        const std::uint64_t row = linked.row;
        const std::uint64_t distance = row > user[rank].line ? row - user[rank].line : user[rank].line - row;
        if (!placed || distance < linked.distance) {
          linked.frame_rank = rank;
          linked.frame_line = user[rank].line;
          linked.distance = distance;
          placed = true;
        }
      }
      out.push_back(std::move(linked));
    }
  }
  explain::rank_findings(out);
  if (out.size() > kMaxFindings) {
    out.resize(kMaxFindings);
  }
  return out;
}

} // namespace

ExplainOutcome run_explain(const ExplainArgs& given, service::LintService& lint_service) {
  ExplainOutcome outcome;
  ExplainArgs args = given;
  if (args.input.empty()) {
    // Waiting for a log to be typed in is never what was meant.
    if (::isatty(STDIN_FILENO) != 0) {
      outcome.exit_code = 2;
      outcome.error = "give the log to read: `oomlint explain train.log`, or pipe it: `python train.py 2>&1 | "
                      "oomlint explain -`";
      return outcome;
    }
    args.input = "-";
  }
  explain::LogScanner scanner;
  if (auto problem = scan_log(args.input, scanner)) {
    outcome.exit_code = 2;
    outcome.error = std::move(problem);
    return outcome;
  }
  explain::Explanation e = explain::explain(args.input, scanner.finish());
  if (!args.no_lint && !e.frames.empty()) {
    const fs::path log_dir = args.input == "-" ? fs::path() : fs::path(args.input).parent_path();
    e.findings = findings_near(e.frames, log_dir, lint_service);
  }
  outcome.output = args.output_format == "json"
                       ? explain::render_json(e).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n"
                       : explain::render_text(e);
  outcome.exit_code = e.scan.oom_count > 0 ? 1 : 0;
  return outcome;
}

} // namespace oomlint::cli
