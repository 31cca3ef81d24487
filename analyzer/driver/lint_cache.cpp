#include "analyzer/driver/lint_cache.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <system_error>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "analyzer/driver/linter.hpp"

#ifndef OOMLINT_VERSION
#define OOMLINT_VERSION "dev"
#endif

namespace oomlint {

namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

constexpr std::uint64_t kFnvOffset = 0xcbf29ce484222325ULL;
constexpr std::uint64_t kFnvPrime = 0x100000001b3ULL;

std::uint64_t fnv1a(std::string_view bytes, std::uint64_t h = kFnvOffset) {
  for (const char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= kFnvPrime;
  }
  return h;
}

// splitmix64's finaliser: every input bit reaches every output bit.
std::uint64_t avalanche(std::uint64_t x) {
  x ^= x >> 30U;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27U;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31U;
  return x;
}

std::string hex(std::uint64_t h) {
  return fmt::format("{:016x}", h);
}

// The binary itself: a rebuilt oomlint (same version string, other rules) must not read the
// results of the old one.
std::string binary_identity() {
  struct stat st {};
  if (::stat("/proc/self/exe", &st) != 0) {
    return "unknown";
  }
  return fmt::format("{}:{}:{}", st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
}

std::string settings_text(const LintSettings& settings) {
  std::string out = fmt::format("oomlint {} {}\nenabled:", OOMLINT_VERSION, binary_identity());
  for (const std::string& code : settings.enabled) {
    out += " " + code;
  }
  const Config* c = settings.config;
  if (c == nullptr) {
    return out;
  }
  out += "\nroot: " + c->root.string();
  auto list = [&](std::string_view name, const std::vector<std::string>& items) {
    out += fmt::format("\n{}:", name);
    for (const std::string& item : items) {
      out += fmt::format(" {:?}", item);
    }
  };
  list("loss", c->model.extra_loss_functions);
  list("models", c->model.extra_model_names);
  list("decorators", c->model.extra_grad_disabled_decorators);
  for (const PerFileIgnore& p : c->per_file_ignores) {
    list("ignore " + p.pattern, p.codes);
  }
  for (const auto& [code, options] : c->rule_options) {
    for (const auto& [name, values] : options) {
      list(code + "." + name, values);
    }
  }
  return out;
}

Json to_json(const Finding& f) {
  Json j{{"code", f.code},        {"name", f.name},   {"severity", static_cast<int>(f.severity)},
         {"message", f.message},  {"start", f.start}, {"end", f.end},
         {"noqa_row", f.noqa_row}};
  Json related = Json::array();
  for (const Related& r : f.related) {
    related.push_back({r.start, r.end, r.message});
  }
  j["related"] = std::move(related);
  if (f.fix) {
    Json edits = Json::array();
    for (const Edit& e : f.fix->edits) {
      edits.push_back({e.start, e.end, e.content});
    }
    j["fix"] = {{"safe", f.fix->applicability == Applicability::Safe},
                {"message", f.fix->message},
                {"edits", std::move(edits)}};
  }
  return j;
}

Finding finding_of(const Json& j) {
  Finding f;
  f.code = j.at("code").get<std::string>();
  f.name = j.at("name").get<std::string>();
  f.severity = static_cast<Severity>(j.at("severity").get<int>());
  f.message = j.at("message").get<std::string>();
  f.start = j.at("start").get<std::uint32_t>();
  f.end = j.at("end").get<std::uint32_t>();
  f.noqa_row = j.at("noqa_row").get<std::uint32_t>();
  for (const Json& r : j.at("related")) {
    f.related.push_back(
        Related{r.at(0).get<std::uint32_t>(), r.at(1).get<std::uint32_t>(), r.at(2).get<std::string>()});
  }
  if (j.contains("fix")) {
    const Json& x = j.at("fix");
    Fix fix;
    fix.applicability = x.at("safe").get<bool>() ? Applicability::Safe : Applicability::Unsafe;
    fix.message = x.at("message").get<std::string>();
    for (const Json& e : x.at("edits")) {
      fix.edits.push_back(Edit{e.at(0).get<std::uint32_t>(), e.at(1).get<std::uint32_t>(), e.at(2).get<std::string>()});
    }
    f.fix = std::move(fix);
  }
  return f;
}

Json to_json(const model::FunctionSummary& s) {
  Json elements = Json::array();
  for (model::Grad g : s.elements) {
    elements.push_back(static_cast<int>(g));
  }
  return Json{static_cast<int>(s.returns),
              static_cast<int>(s.returns_kind),
              std::move(elements),
              s.grad_disabled,
              s.backprops,
              s.steps_optimizer,
              s.needs_grad,
              s.per_step_method,
              s.has_loop,
              s.module_class,
              s.callable_class,
              s.empties_cache,
              s.may_return_a_number,
              s.plain_class,
              s.parameter_free,
              s.frozen_class,
              s.bases_elsewhere,
              s.returns_instance_of};
}

model::FunctionSummary function_of(const Json& j) {
  model::FunctionSummary s;
  s.returns = static_cast<model::Grad>(j.at(0).get<int>());
  s.returns_kind = static_cast<model::Kind>(j.at(1).get<int>());
  for (const Json& g : j.at(2)) {
    s.elements.push_back(static_cast<model::Grad>(g.get<int>()));
  }
  bool* flags[] = {&s.grad_disabled, &s.backprops,      &s.steps_optimizer, &s.needs_grad,    &s.per_step_method,
                   &s.has_loop,      &s.module_class,   &s.callable_class,  &s.empties_cache, &s.may_return_a_number,
                   &s.plain_class,   &s.parameter_free, &s.frozen_class};
  for (size_t i = 0; i < std::size(flags) && 3 + i < j.size(); ++i) {
    *flags[i] = j.at(3 + i).get<bool>();
  }
  if (const size_t bases = 3 + std::size(flags); bases < j.size()) {
    s.bases_elsewhere = j.at(bases).get<std::vector<std::string>>();
  }
  if (const size_t factory = 4 + std::size(flags); factory < j.size()) {
    s.returns_instance_of = j.at(factory).get<std::string>();
  }
  return s;
}

// Functions in name order, so that the same summary always gives the same text (and hash).
Json to_json(const model::ModuleSummary& s) {
  std::vector<const std::pair<const std::string, model::FunctionSummary>*> functions;
  for (const auto& entry : s.functions) {
    functions.push_back(&entry);
  }
  std::sort(functions.begin(), functions.end(), [](const auto* a, const auto* b) { return a->first < b->first; });
  Json fns = Json::array();
  for (const auto* entry : functions) {
    fns.push_back({entry->first, to_json(entry->second)});
  }
  Json calls = Json::array();
  for (const model::CallSite& c : s.external_calls) {
    calls.push_back({c.target, c.disabled, c.in_loop});
  }
  return Json{{"module", s.module},
              {"functions", std::move(fns)},
              {"calls", std::move(calls)},
              {"bases", s.external_bases},
              {"reexports", s.reexports},
              {"methods", s.uncalled_methods},
              {"disabled_methods", s.grad_disabled_methods},
              {"grad_taking", s.grad_taking},
              {"calls_by_name", s.calls_by_name},
              {"untyped_method_calls", s.untyped_method_calls},
              {"trained_method_names", s.trained_method_names},
              {"value_sensitive", s.value_sensitive},
              {"loop_sensitive", s.loop_sensitive},
              {"had_findings", s.had_findings}};
}

model::ModuleSummary summary_of(const Json& j) {
  model::ModuleSummary s;
  s.module = j.at("module").get<std::string>();
  for (const Json& f : j.at("functions")) {
    s.functions.emplace(f.at(0).get<std::string>(), function_of(f.at(1)));
  }
  for (const Json& c : j.at("calls")) {
    s.external_calls.push_back(model::CallSite{c.at(0).get<std::string>(), c.at(1).get<bool>(), c.at(2).get<bool>()});
  }
  s.external_bases = j.at("bases").get<std::vector<std::string>>();
  if (j.contains("reexports")) {
    s.reexports = j.at("reexports").get<std::vector<std::pair<std::string, std::string>>>();
  }
  if (j.contains("methods")) { // entries written before methods were summarised have none
    s.uncalled_methods = j.at("methods").get<std::vector<std::string>>();
  }
  if (j.contains("disabled_methods")) {
    s.grad_disabled_methods = j.at("disabled_methods").get<std::map<std::string, std::vector<std::string>>>();
  }
  if (j.contains("grad_taking")) {
    s.grad_taking = j.at("grad_taking").get<std::vector<std::uint64_t>>();
    s.calls_by_name = j.at("calls_by_name").get<std::vector<std::pair<std::uint64_t, std::vector<std::uint64_t>>>>();
  }
  if (j.contains("untyped_method_calls")) {
    s.untyped_method_calls =
        j.at("untyped_method_calls").get<std::vector<std::pair<std::uint64_t, std::pair<int, int>>>>();
  }
  if (j.contains("trained_method_names")) {
    s.trained_method_names = j.at("trained_method_names").get<std::vector<std::uint64_t>>();
  }
  s.value_sensitive = j.at("value_sensitive").get<bool>();
  s.loop_sensitive = j.at("loop_sensitive").get<bool>();
  s.had_findings = j.at("had_findings").get<bool>();
  return s;
}

Json findings_json(const std::vector<Finding>& findings) {
  Json out = Json::array();
  for (const Finding& f : findings) {
    out.push_back(to_json(f));
  }
  return out;
}

std::vector<Finding> findings_of(const Json& j) {
  std::vector<Finding> out;
  for (const Json& f : j) {
    out.push_back(finding_of(f));
  }
  return out;
}

} // namespace

LintCache::LintCache(const fs::path& root, const LintSettings& settings)
    : m_folder(root / hex(avalanche(fnv1a(settings_text(settings))))) {
  std::error_code ec;
  fs::create_directories(m_folder, ec);
  m_usable = !ec;
  // Like other tools' caches: never committed, whatever the project's .gitignore says.
  const fs::path ignore = root / ".gitignore";
  if (m_usable && !fs::exists(ignore, ec)) {
    std::ofstream(ignore) << "# Created by oomlint: results of earlier runs.\n*\n";
  }
}

fs::path LintCache::entry_path(const std::string& path) const {
  std::error_code ec;
  const fs::path absolute = fs::absolute(path, ec);
  return m_folder / (hex(avalanche(fnv1a((ec ? fs::path(path) : absolute).lexically_normal().string()))) + ".json");
}

std::optional<CachedLint> LintCache::load(const std::string& path, std::uint64_t content) const {
  if (!m_usable) {
    return std::nullopt;
  }
  std::ifstream in(entry_path(path), std::ios::binary);
  if (!in) {
    return std::nullopt;
  }
  try {
    const Json j = Json::parse(std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()));
    if (j.at("path").get<std::string>() != path || j.at("content").get<std::string>() != hex(content)) {
      return std::nullopt;
    }
    CachedLint entry;
    entry.content = content;
    entry.summary = summary_of(j.at("summary"));
    entry.findings = findings_of(j.at("findings"));
    entry.notices = j.at("notices").get<std::vector<std::string>>();
    if (j.contains("second")) {
      entry.facts = std::stoull(j.at("second").at("facts").get<std::string>(), nullptr, 16);
      entry.second_findings = findings_of(j.at("second").at("findings"));
    }
    return entry;
  } catch (const std::exception&) {
    return std::nullopt; // corrupt or from another layout: linted again, and rewritten
  }
}

void LintCache::store(const std::string& path, const CachedLint& entry) const {
  if (!m_usable) {
    return;
  }
  Json j{{"path", path},
         {"content", hex(entry.content)},
         {"summary", to_json(entry.summary)},
         {"findings", findings_json(entry.findings)},
         {"notices", entry.notices}};
  if (entry.facts) {
    j["second"] = {{"facts", hex(*entry.facts)}, {"findings", findings_json(entry.second_findings)}};
  }
  const fs::path target = entry_path(path);
  std::string temp = target.string() + ".XXXXXX";
  const int fd = ::mkstemp(temp.data());
  if (fd < 0) {
    return; // a read-only cache folder: the run goes on without caching
  }
  const std::string text = j.dump(-1, ' ', false, Json::error_handler_t::replace);
  bool ok = true;
  for (size_t done = 0; ok && done < text.size();) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    ok = n > 0;
    done += ok ? static_cast<size_t>(n) : 0;
  }
  ok = (::close(fd) == 0) && ok;
  std::error_code ec;
  if (ok) {
    fs::rename(temp, target, ec);
  }
  if (!ok || ec) {
    fs::remove(temp, ec);
  }
}

std::uint64_t LintCache::hash_text(std::string_view text) {
  return avalanche(fnv1a(text) ^ text.size());
}

std::uint64_t LintCache::hash_summary(const model::ModuleSummary& summary) {
  Json j = to_json(summary);
  j.erase("had_findings"); // the driver's own note, not a fact other modules read
  return avalanche(fnv1a(j.dump(-1, ' ', false, Json::error_handler_t::replace)));
}

std::uint64_t LintCache::hash_facts(std::vector<std::uint64_t> summary_hashes) {
  std::sort(summary_hashes.begin(), summary_hashes.end());
  std::uint64_t h = kFnvOffset;
  for (const std::uint64_t one : summary_hashes) {
    h = avalanche(h ^ one) * kFnvPrime;
  }
  return avalanche(h);
}

bool remove_cache(const fs::path& root, std::string& message) {
  std::error_code ec;
  if (!fs::exists(root, ec)) {
    message = fmt::format("no cache at {}", root.string());
    return true;
  }
  const auto removed = fs::remove_all(root, ec);
  if (ec) {
    message = fmt::format("cannot remove {}: {}", root.string(), ec.message());
    return false;
  }
  message = fmt::format("removed {} ({} files)", root.string(), removed);
  return true;
}

} // namespace oomlint
