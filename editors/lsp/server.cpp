#include "editors/lsp/server.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "analyzer/driver/discovery.hpp"
#include "analyzer/fix/noqa.hpp"
#include "analyzer/model/project.hpp"
#include "analyzer/support/crash_guard.hpp"

namespace oomlint::lsp {

namespace {

constexpr std::string_view kFixAllKind = "source.fixAll.oomlint";

bool is_configuration_file(std::string_view path) {
  return is_configuration_file_name(path.substr(path.find_last_of('/') + 1));
}

int lsp_severity(Severity s) {
  switch (s) {
  case Severity::Error:
    return 1;
  case Severity::Warning:
    return 2;
  case Severity::Info:
    return 3;
  }
  return 2;
}

// `only: ["source.fixAll"]` asks for kinds at or below that one.
bool kind_wanted(const Json& only, std::string_view kind) {
  if (!only.is_array()) {
    return true;
  }
  return std::any_of(only.begin(), only.end(), [&](const Json& k) {
    if (!k.is_string()) {
      return false;
    }
    const auto& want = k.get_ref<const std::string&>();
    return kind == want || (kind.starts_with(want) && kind.size() > want.size() && kind[want.size()] == '.');
  });
}

std::vector<std::string> string_list(const Json& v) {
  std::vector<std::string> out;
  if (v.is_string()) {
    std::string_view s = v.get_ref<const std::string&>();
    while (!s.empty()) {
      const std::size_t comma = s.find(',');
      if (std::string_view item = s.substr(0, comma); !item.empty()) {
        out.emplace_back(item);
      }
      s.remove_prefix(comma == std::string_view::npos ? s.size() : comma + 1);
    }
  } else if (v.is_array()) {
    for (const Json& item : v) {
      if (item.is_string()) {
        out.push_back(item.get<std::string>());
      }
    }
  }
  return out;
}

std::string id_key(const Json& id) {
  return id.dump();
}

// `obj[key]` without copying it (a didOpen's member holds the whole buffer); an empty object
// when there is no such member.
const Json& member(const Json& obj, std::string_view key) {
  static const Json kEmpty = Json::object();
  if (!obj.is_object()) {
    return kEmpty;
  }
  auto it = obj.find(key);
  return it == obj.end() ? kEmpty : *it;
}

} // namespace

// The project as the workspace folders hold it on disk: each module's facts, so that an open
// buffer is linted with what its imports mean.
struct Server::WorkspaceFacts {
  ProjectRun run;
  std::map<std::string, std::size_t> index; // path -> input
  std::unordered_set<std::string> roots;
};

Server::Server(service::LintService& service, FrameWriter& out, ServerOptions options)
    : m_service(service), m_out(out), m_options(std::move(options)) {}

Server::~Server() {
  for (std::thread& t : m_scans) {
    if (t.joinable()) {
      t.join();
    }
  }
}

// ---- the message loop -------------------------------------------------------------------

void Server::push(Event e) {
  {
    const std::lock_guard<std::mutex> lock(m_queue_mutex);
    m_queue.push_back(std::move(e));
  }
  m_queue_cv.notify_one();
}

Server::Popped Server::pop(Event& e, int idle_ms) {
  std::unique_lock<std::mutex> lock(m_queue_mutex);
  const auto ready = [&] { return !m_queue.empty(); };
  if (idle_ms < 0) {
    m_queue_cv.wait(lock, ready);
  } else if (!m_queue_cv.wait_for(lock, std::chrono::milliseconds(idle_ms), ready)) {
    return Popped::Idle;
  }
  e = std::move(m_queue.front());
  m_queue.pop_front();
  return e.end ? Popped::End : Popped::Event;
}

bool Server::queue_empty() {
  const std::lock_guard<std::mutex> lock(m_queue_mutex);
  return m_queue.empty();
}

void Server::reader_loop(std::istream& in) {
  FrameReader reader(in);
  while (true) {
    Frame frame = reader.next();
    if (frame.kind == Frame::Kind::End) {
      push(Event{std::nullopt, nullptr, true});
      return;
    }
    if (frame.kind == Frame::Kind::BadHeader) {
      m_out.write(error_response(nullptr, error_code::kParseError, "bad message header: " + frame.reason));
      continue;
    }
    Message m = parse_message(frame.body);
    // A cancellation must overtake the request it names, which may be waiting in the queue.
    if (m.kind == Message::Kind::Notification && m.method == "$/cancelRequest" && m.params.is_object() &&
        m.params.contains("id")) {
      const std::lock_guard<std::mutex> lock(m_cancel_mutex);
      m_cancelled.insert(id_key(m.params["id"]));
      continue;
    }
    const bool is_exit = m.kind == Message::Kind::Notification && m.method == "exit";
    push(Event{std::move(m), nullptr, false});
    if (is_exit) {
      return; // nothing after `exit` is read
    }
  }
}

int Server::run(std::istream& in) {
  std::thread reader([&] { reader_loop(in); });
  Event e;
  while (!m_exit) {
    const bool confirming = m_initialized && !m_shutdown && any_provisional();
    const Popped got = pop(e, confirming ? m_options.confirm_after_ms : -1);
    if (got == Popped::End) {
      break;
    }
    if (got == Popped::Idle) {
      confirm_provisional_documents();
      continue;
    }
    try {
      if (e.task) {
        e.task();
      } else if (e.message) {
        handle(*e.message);
      }
    } catch (const std::exception& ex) {
      if (e.message && e.message->kind == Message::Kind::Request) {
        m_out.write(error_response(e.message->id, error_code::kInternalError,
                                   fmt::format("internal error: {}; please report it", ex.what())));
      }
    }
    // Edits that came together are linted once, when no more messages wait.
    if (m_initialized && !m_shutdown && queue_empty()) {
      lint_stale_documents();
    }
  }
  reader.join();
  return m_exit && m_shutdown ? 0 : 1;
}

void Server::handle(const Message& m) {
  switch (m.kind) {
  case Message::Kind::Invalid:
    m_out.write(error_response(m.id, m.error_code, m.error_message));
    return;
  case Message::Kind::Response:
    return; // replies to our registration requests: nothing to do
  case Message::Kind::Notification:
    handle_notification(m);
    return;
  case Message::Kind::Request:
    handle_request(m);
    return;
  }
}

void Server::handle_request(const Message& m) {
  {
    const std::lock_guard<std::mutex> lock(m_cancel_mutex);
    if (m_cancelled.erase(id_key(m.id)) != 0) {
      m_out.write(error_response(m.id, error_code::kRequestCancelled, "the request was cancelled"));
      return;
    }
  }
  if (m.method == "initialize") {
    if (m_initialized) {
      m_out.write(error_response(m.id, error_code::kInvalidRequest, "the server is already initialized"));
      return;
    }
    m_out.write(response(m.id, initialize(m.params)));
    return;
  }
  if (!m_initialized) {
    m_out.write(error_response(m.id, error_code::kServerNotInitialized,
                               "the server is not initialized: send `initialize` first"));
    return;
  }
  if (m_shutdown) {
    m_out.write(error_response(m.id, error_code::kInvalidRequest, "the server is shutting down"));
    return;
  }
  if (m.method == "shutdown") {
    lint_stale_documents();
    m_shutdown = true;
    m_out.write(response(m.id, nullptr));
    return;
  }
  // Replies come after the diagnostics of every edit sent before the request.
  lint_stale_documents();
  const bool object_params = m.params.is_object();
  if (m.method == "textDocument/codeAction" && object_params) {
    m_out.write(response(m.id, code_action(m.params)));
  } else if (m.method == "textDocument/hover" && object_params) {
    m_out.write(response(m.id, hover(m.params)));
  } else if (m.method == "textDocument/codeAction" || m.method == "textDocument/hover") {
    m_out.write(error_response(m.id, error_code::kInvalidParams, "`params` must be an object"));
  } else {
    m_out.write(error_response(m.id, error_code::kMethodNotFound, fmt::format("unknown method `{}`", m.method)));
  }
}

void Server::handle_notification(const Message& m) {
  if (m.method == "exit") {
    m_exit = true;
    return;
  }
  if (!m_initialized || m_shutdown) {
    return; // notifications before initialize (or after shutdown) are dropped
  }
  using Handler = void (Server::*)(const Json&);
  static const std::map<std::string_view, Handler> kHandlers = {
      {"initialized", &Server::initialized},
      {"textDocument/didOpen", &Server::did_open},
      {"textDocument/didChange", &Server::did_change},
      {"textDocument/didClose", &Server::did_close},
      {"textDocument/didSave", &Server::did_save},
      {"workspace/didChangeConfiguration", &Server::did_change_configuration},
      {"workspace/didChangeWatchedFiles", &Server::did_change_watched_files},
  };
  // Other notifications (`$/setTrace`, `$/progress`, ...) need nothing from a linter.
  if (auto it = kHandlers.find(m.method); it != kHandlers.end()) {
    static const Json kNoParams = Json::object();
    (this->*(it->second))(m.params.is_object() ? m.params : kNoParams);
  }
}

// ---- lifecycle --------------------------------------------------------------------------

Json Server::initialize(const Json& params) {
  const Json caps = params.value("capabilities", Json::object());
  const Json general = caps.value("general", Json::object());
  const Json encodings = general.value("positionEncodings", Json::array());
  const bool utf8 = std::any_of(encodings.begin(), encodings.end(), [](const Json& e) { return e == "utf-8"; });
  m_unit = utf8 ? ColumnUnit::Byte : ColumnUnit::Utf16;
  const Json text_document = caps.value("textDocument", Json::object());
  m_related_information = text_document.value("publishDiagnostics", Json::object()).value("relatedInformation", false);
  m_watch_registration = caps.value("workspace", Json::object())
                             .value("didChangeWatchedFiles", Json::object())
                             .value("dynamicRegistration", false);
  if (const Json folders = params.value("workspaceFolders", Json()); folders.is_array()) {
    for (const Json& f : folders) {
      if (std::string p = uri_to_path(f.value("uri", "")); !p.empty()) {
        m_roots.push_back(std::move(p));
      }
    }
  }
  if (m_roots.empty()) {
    if (std::string p = uri_to_path(params.value("rootUri", Json("")).is_string() ? params.value("rootUri", "") : "");
        !p.empty()) {
      m_roots.push_back(std::move(p));
    }
  }
  read_settings(params.value("initializationOptions", Json()));
  m_initialized = true;
  Json capabilities = {
      {"positionEncoding", utf8 ? "utf-8" : "utf-16"},
      {"textDocumentSync", {{"openClose", true}, {"change", 2}, {"save", {{"includeText", false}}}}},
      {"codeActionProvider", {{"codeActionKinds", {"quickfix", kFixAllKind}}, {"resolveProvider", false}}},
      {"hoverProvider", true},
  };
  return Json{{"capabilities", capabilities}, {"serverInfo", {{"name", "oomlint"}, {"version", m_options.version}}}};
}

void Server::initialized(const Json& /*params*/) {
  if (m_watch_registration) {
    Json watchers = Json::array();
    for (const char* glob : {"**/pyproject.toml", "**/oomlint.toml", "**/.oomlint.toml", "**/*.py"}) {
      watchers.push_back({{"globPattern", glob}});
    }
    m_out.write(request("oomlint/watch-files", "client/registerCapability",
                        {{"registrations",
                          {{{"id", "oomlint-watched-files"},
                            {"method", "workspace/didChangeWatchedFiles"},
                            {"registerOptions", {{"watchers", watchers}}}}}}}));
  }
  scan_workspace();
}

// ---- settings ---------------------------------------------------------------------------

void Server::read_settings(const Json& settings) {
  if (!settings.is_object()) {
    return;
  }
  const Json& s = settings.contains("oomlint") && settings["oomlint"].is_object() ? settings["oomlint"] : settings;
  service::Overrides o;
  o.select = string_list(s.value("select", Json()));
  o.extend_select = string_list(s.value("extendSelect", Json()));
  o.ignore = string_list(s.value("ignore", Json()));
  o.unsafe_fixes = s.value("unsafeFixes", false);
  o.isolated = s.value("isolated", false);
  if (const Json c = s.value("configuration", Json()); c.is_string()) {
    o.config_file = c.get<std::string>();
  }
  // An unknown code in the editor's settings is dropped rather than failing every lint.
  for (auto* list : {&o.select, &o.extend_select, &o.ignore}) {
    std::erase_if(*list, [&](const std::string& code) { return !is_known_selector(code, m_service.catalog()); });
  }
  m_overrides = std::move(o);
}

void Server::did_change_configuration(const Json& params) {
  read_settings(params.value("settings", Json()));
  configuration_changed();
}

void Server::configuration_changed() {
  m_service.forget_configuration();
  for (auto& [uri, doc] : m_documents) {
    doc.settings.reset();
    doc.stale = true;
    doc.whole = true;
  }
  scan_workspace();
}

void Server::did_change_watched_files(const Json& params) {
  bool configuration = false;
  bool sources = false;
  for (const Json& change : params.value("changes", Json::array())) {
    const std::string path = uri_to_path(change.value("uri", ""));
    configuration = configuration || is_configuration_file(path);
    sources = sources || path.ends_with(".py") || path.ends_with(".pyi");
  }
  if (configuration) {
    configuration_changed();
  } else if (sources) {
    scan_workspace();
  }
}

std::shared_ptr<const service::Settings> Server::settings_for(Document& doc) {
  if (!doc.settings) {
    const std::filesystem::path start =
        doc.path.empty() ? (m_roots.empty() ? std::filesystem::current_path() : std::filesystem::path(m_roots.front()))
                         : std::filesystem::path(doc.path).parent_path();
    auto resolved = m_service.settings_for(start, m_overrides);
    if (resolved) {
      doc.settings = *resolved;
    } else {
      m_out.write(
          notification("window/showMessage", {{"type", 1}, {"message", "oomlint: " + resolved.error().describe()}}));
      service::Overrides isolated = m_overrides;
      isolated.isolated = true;
      doc.settings = *m_service.settings_for(start, isolated);
    }
  }
  return doc.settings;
}

// ---- project facts ----------------------------------------------------------------------

void Server::scan_workspace() {
  if (m_roots.empty()) {
    return;
  }
  // An editor opened on `/` or a home folder is not a project: walking it would lint the disk.
  const char* home = std::getenv("HOME");
  for (const std::string& root : m_roots) {
    const std::string norm = std::filesystem::path(root).lexically_normal().string();
    if (norm == "/" ||
        (home != nullptr && *home != '\0' && norm == std::filesystem::path(home).lexically_normal().string())) {
      m_out.write(notification("window/logMessage",
                               {{"type", 3},
                                {"message", fmt::format("oomlint: {} is not scanned for workspace facts (it is `/` or "
                                                        "the home folder); open a project folder for them",
                                                        root)}}));
      return;
    }
  }
  const int generation = ++m_scan_generation;
  auto settings = m_service.settings_for(m_roots.front(), m_overrides);
  if (!settings) {
    return;
  }
  // Open buffers count as they are in the editor, saved or not.
  std::map<std::string, std::string> buffers;
  for (const auto& [uri, doc] : m_documents) {
    if (!doc.path.empty()) {
      buffers[doc.path] = doc.text;
    }
  }
  std::vector<std::string> roots = m_roots;
  const int jobs = m_options.workspace_jobs;
  m_scans.emplace_back([this, generation, roots, buffers, jobs, settings = *settings] {
    auto facts = std::make_shared<WorkspaceFacts>();
    try {
      const Discovery found = discover(roots, settings->config());
      std::vector<LintInput> inputs;
      for (const std::string& f : found.files) {
        auto it = buffers.find(f);
        inputs.push_back(
            LintInput{f, it == buffers.end() ? nullptr : std::make_shared<const SourceFile>(f, it->second)});
      }
      facts->run = m_service.lint(inputs, *settings, jobs > 0 ? jobs : 0);
      for (std::size_t i = 0; i < inputs.size(); ++i) {
        facts->index[inputs[i].path] = i;
        const std::string& module = facts->run.contexts[i].module;
        facts->roots.insert(module.substr(0, module.find('.')));
      }
      facts->run.reports.clear(); // only the facts are kept
    } catch (const std::exception&) {
      return; // a workspace that cannot be scanned leaves buffers linted on their own
    }
    push(Event{std::nullopt,
               [this, generation, facts] {
                 if (generation != m_scan_generation) {
                   return; // a newer scan is on its way
                 }
                 m_workspace = facts;
                 for (auto& [uri, doc] : m_documents) {
                   doc.context.reset();
                   doc.stale = true;
                   doc.whole = true;
                   doc.whole = true;
                 }
               },
               false});
  });
}

// Worked out once per buffer (module names come from the folders around it), not on every edit.
const model::ProjectContext& Server::context_of(Document& doc) {
  if (!doc.context) {
    doc.context = context_for(doc.path);
  }
  return *doc.context;
}

model::ProjectContext Server::context_for(const std::string& path) const {
  model::ProjectContext context;
  bool is_package = false;
  context.module = model::module_name_for(path.empty() ? std::string("untitled.py") : path, is_package);
  context.is_package = is_package;
  auto roots = std::make_shared<std::unordered_set<std::string>>();
  roots->insert(context.module.substr(0, context.module.find('.')));
  context.local_roots = roots;
  if (m_workspace && m_workspace->run.facts) {
    if (auto it = m_workspace->index.find(path); it != m_workspace->index.end()) {
      context = m_workspace->run.contexts[it->second];
    } else {
      roots->insert(m_workspace->roots.begin(), m_workspace->roots.end());
    }
    context.facts = m_workspace->run.facts.get();
  }
  return context;
}

// ---- documents --------------------------------------------------------------------------

Document* Server::document(const Json& params) {
  const Json& td = member(params, "textDocument");
  if (!td.is_object()) {
    return nullptr;
  }
  auto it = m_documents.find(td.value("uri", ""));
  return it == m_documents.end() ? nullptr : &it->second;
}

void Server::did_open(const Json& params) {
  const Json& td = member(params, "textDocument");
  if (!td.is_object() || !td.contains("uri") || !td["uri"].is_string() || !td.contains("text") ||
      !td["text"].is_string()) {
    return;
  }
  Document doc;
  doc.uri = td["uri"].get<std::string>();
  doc.path = uri_to_path(doc.uri);
  doc.version = td.value("version", std::int64_t{0});
  doc.text = td["text"].get<std::string>();
  m_documents[doc.uri] = std::move(doc);
}

void Server::did_change(const Json& params) {
  Document* doc = document(params);
  if (doc == nullptr) {
    return;
  }
  const Json& td = member(params, "textDocument");
  const Json& changes = member(params, "contentChanges");
  for (const Json& change : changes) { // an object member holds no changes: apply_change refuses it
    if (!changes.is_array() || !apply_change(*doc, change, m_unit)) {
      m_out.write(notification("window/logMessage", {{"type", 2},
                                                     {"message", "oomlint: a malformed change was ignored; the buffer "
                                                                 "may be out of step until it is reopened"}}));
    }
  }
  doc->version = td.value("version", doc->version + 1);
}

void Server::did_close(const Json& params) {
  const Json& td = member(params, "textDocument");
  const std::string uri = td.is_object() ? td.value("uri", "") : "";
  if (m_documents.erase(uri) != 0) {
    m_out.write(notification("textDocument/publishDiagnostics", {{"uri", uri}, {"diagnostics", Json::array()}}));
  }
}

void Server::did_save(const Json& params) {
  const Json& td = member(params, "textDocument");
  const std::string path = uri_to_path(td.is_object() ? td.value("uri", "") : "");
  if (is_configuration_file(path)) {
    configuration_changed();
  } else {
    scan_workspace(); // what this module now offers its importers may have changed
  }
}

void Server::lint(Document& doc) {
  const auto settings = settings_for(doc);
  auto source = std::make_shared<const SourceFile>(doc.path.empty() ? doc.uri : doc.path, doc.text);
  const model::ProjectContext& context = context_of(doc);
  // A BOM shifts every offset of the analysed text against the buffer's: parse afresh then.
  const bool reuse = doc.tree && !source->had_bom();
  const bool incremental = !doc.whole && doc.report.source != nullptr;
  const PreviousLint previous{doc.tree, incremental ? &doc.report : nullptr, doc.units, doc.edits, doc.exact_edits};
  service::BufferLint result;
  // A buffer that crashes the analyzer costs its diagnostics, not the editor's session.
  const bool finished = run_guarded(
      [&] { result = m_service.lint_buffer(source, m_parser, *settings, reuse ? &previous : nullptr, &context); });
  doc.stale = false;
  doc.whole = false;
  doc.edits.clear();
  doc.exact_edits.clear();
  if (!finished) {
    // The parser and the old tree may be half-updated: they are abandoned, never freed.
    static_cast<void>(new syntax::Parser(std::move(m_parser)));
    static_cast<void>(new syntax::Tree(std::move(doc.tree)));
    m_parser = syntax::Parser();
    doc.report = FileReport{};
    doc.report.path = source->path();
    doc.report.source = source;
    doc.report.error =
        Error{"internal error while linting this buffer; please report it with the file", source->path()};
    doc.units.clear();
    doc.whole = true;
    doc.provisional = false;
    return;
  }
  doc.tree = source->had_bom() ? syntax::Tree() : std::move(result.tree);
  doc.report = std::move(result.report);
  doc.units = std::move(result.units);
  doc.provisional = result.provisional;
}

void Server::lint_stale_documents() {
  for (auto& [uri, doc] : m_documents) {
    if (doc.stale) {
      lint(doc);
      publish(doc);
    }
  }
}

bool Server::any_provisional() const {
  return std::any_of(m_documents.begin(), m_documents.end(), [](const auto& d) { return d.second.provisional; });
}

namespace {

bool same_findings(const std::vector<Finding>& a, const std::vector<Finding>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const Finding& x, const Finding& y) {
    return x.code == y.code && x.start == y.start && x.end == y.end && x.message == y.message &&
           x.related.size() == y.related.size();
  });
}

} // namespace

// A fact of the whole module (a path it saves to, a test case it defines) can reach past what an
// incremental lint analysed: once the editor is quiet, the whole buffer is linted, and its
// diagnostics are sent again only if they differ.
void Server::confirm_provisional_documents() {
  for (auto& [uri, doc] : m_documents) {
    if (!doc.provisional) {
      continue;
    }
    const std::vector<Finding> provisional = doc.report.findings;
    doc.whole = true;
    lint(doc);
    if (!same_findings(provisional, doc.report.findings) || doc.report.error) {
      publish(doc);
    }
  }
}

void Server::publish(const Document& doc) {
  Json diagnostics = Json::array();
  if (doc.report.error && doc.report.source) {
    const Error& e = *doc.report.error;
    const std::uint32_t row = e.line > 0 ? static_cast<std::uint32_t>(e.line - 1) : 0;
    diagnostics.push_back(
        {{"range", {{"start", {{"line", row}, {"character", 0}}}, {"end", {{"line", row + 1}, {"character", 0}}}}},
         {"severity", 1},
         {"source", "oomlint"},
         {"message", e.message}});
  }
  for (const Finding& f : doc.report.findings) {
    diagnostics.push_back(diagnostic(doc, f));
  }
  m_out.write(notification("textDocument/publishDiagnostics",
                           {{"uri", doc.uri}, {"version", doc.version}, {"diagnostics", std::move(diagnostics)}}));
}

// ---- conversions ------------------------------------------------------------------------

Json Server::range(const SourceFile& source, std::uint32_t start, std::uint32_t end) const {
  const RowCol a = source.position(start, m_unit);
  const RowCol b = source.position(end, m_unit);
  return {{"start", {{"line", a.row}, {"character", a.column}}}, {"end", {{"line", b.row}, {"character", b.column}}}};
}

Json Server::diagnostic(const Document& doc, const Finding& f) const {
  const SourceFile& source = *doc.report.source;
  Json d = {{"range", range(source, f.start, f.end)},
            {"severity", lsp_severity(f.severity)},
            {"code", f.code},
            {"source", "oomlint"},
            {"message", f.message}};
  if (const std::string url = m_service.rule_url(f.code); !url.empty()) {
    d["codeDescription"] = {{"href", url}};
  }
  if (m_related_information && !f.related.empty()) {
    Json related = Json::array();
    for (const Related& r : f.related) {
      related.push_back(
          {{"location", {{"uri", doc.uri}, {"range", range(source, r.start, r.end)}}}, {"message", r.message}});
    }
    d["relatedInformation"] = std::move(related);
  }
  return d;
}

// ---- code actions and hover -------------------------------------------------------------

Json Server::fix_action(const Document& doc, const Finding& f) const {
  const SourceFile& source = *doc.report.source;
  Json edits = Json::array();
  for (const Edit& e : f.fix->edits) {
    edits.push_back({{"range", range(source, e.start, e.end)}, {"newText", e.content}});
  }
  const bool safe = f.fix->applicability == Applicability::Safe;
  return {{"title", fmt::format("{} ({}){}", f.fix->message, f.code, safe ? "" : " [unsafe]")},
          {"kind", "quickfix"},
          {"diagnostics", Json::array({diagnostic(doc, f)})},
          {"isPreferred", safe},
          {"edit", {{"changes", {{doc.uri, edits}}}}}};
}

Json Server::noqa_action(const Document& doc, const Finding& f) const {
  const SourceFile& source = *doc.report.source;
  const Edit edit = noqa_edit(source, f.noqa_row, {f.code});
  return {{"title", fmt::format("Disable {} for this line", f.code)},
          {"kind", "quickfix"},
          {"diagnostics", Json::array({diagnostic(doc, f)})},
          {"edit",
           {{"changes", {{doc.uri, {{{"range", range(source, edit.start, edit.end)}, {"newText", edit.content}}}}}}}}};
}

std::optional<Json> Server::fix_all_action(Document& doc) {
  const auto settings = settings_for(doc);
  const model::ProjectContext& context = context_of(doc);
  const FixOutcome outcome =
      m_service.fix_buffer(doc.report.source, m_parser, *settings, settings->fix_policy(), &context);
  if (!outcome.changed()) {
    return std::nullopt;
  }
  // One edit over the lines that changed, so that the editor keeps the cursor and folds elsewhere.
  const std::string_view before = doc.report.source->text();
  const std::string_view after = outcome.fixed->text();
  std::size_t head = 0;
  while (head < before.size() && head < after.size() && before[head] == after[head]) {
    ++head;
  }
  while (head > 0 && before[head - 1] != '\n') {
    --head;
  }
  std::size_t tail = 0;
  while (tail < before.size() - head && tail < after.size() - head &&
         before[before.size() - 1 - tail] == after[after.size() - 1 - tail]) {
    ++tail;
  }
  const auto start = static_cast<std::uint32_t>(head);
  const auto end = static_cast<std::uint32_t>(before.size() - tail);
  const std::string replacement(after.substr(head, after.size() - tail - head));
  return Json{
      {"title", fmt::format("Fix all oomlint findings ({} fix{})", outcome.applied.size(),
                            outcome.applied.size() == 1 ? "" : "es")},
      {"kind", kFixAllKind},
      {"edit",
       {{"changes", {{doc.uri, {{{"range", range(*doc.report.source, start, end)}, {"newText", replacement}}}}}}}}};
}

Json Server::code_action(const Json& params) {
  Document* doc = document(params);
  if (doc == nullptr) {
    return Json::array();
  }
  if (doc->stale) {
    lint(*doc);
    publish(*doc);
  }
  Json actions = Json::array();
  if (!doc->report.source) {
    return actions;
  }
  const Json context = params.value("context", Json::object());
  const Json only = context.is_object() ? context.value("only", Json()) : Json();
  const SourceFile& source = *doc->report.source;
  const Json r = params.value("range", Json::object());
  const auto offset = [&](const Json& p, std::uint32_t fallback) {
    const auto rc = lsp_position(p);
    return rc ? offset_of(source.text(), source.lines(), *rc, m_unit) : fallback;
  };
  const std::uint32_t from = offset(r.value("start", Json()), 0);
  const std::uint32_t to = offset(r.value("end", Json()), from);
  const auto& policy = doc->settings->fix_policy();
  if (kind_wanted(only, "quickfix")) {
    for (const Finding& f : doc->report.findings) {
      if (f.end < from || f.start > to) {
        continue;
      }
      if (f.fix && policy.fixable.count(f.code) != 0) {
        actions.push_back(fix_action(*doc, f));
      }
      actions.push_back(noqa_action(*doc, f));
    }
  }
  if (kind_wanted(only, kFixAllKind)) {
    if (auto all = fix_all_action(*doc)) {
      actions.push_back(std::move(*all));
    }
  }
  return actions;
}

Json Server::hover(const Json& params) {
  Document* doc = document(params);
  if (doc == nullptr) {
    return nullptr;
  }
  if (doc->stale) {
    lint(*doc);
    publish(*doc);
  }
  if (!doc->report.source) {
    return nullptr;
  }
  const SourceFile& source = *doc->report.source;
  const auto rc = lsp_position(params.value("position", Json()));
  if (!rc || rc->row >= source.lines().line_count()) {
    return nullptr;
  }
  const std::uint32_t at = offset_of(source.text(), source.lines(), *rc, m_unit);
  for (const Finding& f : doc->report.findings) {
    if (at < f.start || at > f.end) {
      continue;
    }
    const RuleMeta* meta = m_service.rule(f.code);
    std::string text = fmt::format("**{}** `{}`: {}\n\n", f.code, f.name, f.message);
    if (meta != nullptr) {
      text += "---\n\n" + m_service.rule_docs(*meta);
    }
    return Json{{"contents", {{"kind", "markdown"}, {"value", text}}}, {"range", range(source, f.start, f.end)}};
  }
  return nullptr;
}

} // namespace oomlint::lsp
