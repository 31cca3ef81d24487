#pragma once
// `oomlint server`: the Language Server Protocol (3.17) over the lint service. Messages are read
// on one thread and handled in order on another; edits that arrive together are linted once,
// after the last of them; requests wait for the buffers they ask about to be linted. Only
// protocol is written to the output stream.
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <istream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "analyzer/service/lint_service.hpp"
#include "editors/lsp/documents.hpp"
#include "editors/lsp/jsonrpc.hpp"
#include "editors/lsp/transport.hpp"

namespace oomlint::lsp {

struct ServerOptions {
  std::string version;    // reported in serverInfo
  int workspace_jobs = 0; // threads for the workspace scan; 0: one per core
  // A buffer linted only where its edits reach is linted whole once the editor has been quiet
  // this long; its diagnostics are published again only when that lint differs.
  int confirm_after_ms = 300;
};

class Server {
public:
  Server(service::LintService& service, FrameWriter& out, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Reads frames from `in` until `exit` or the end of the stream; returns the exit status
  // (0 after shutdown then exit, 1 otherwise).
  int run(std::istream& in);

private:
  struct Event {
    std::optional<Message> message;
    std::function<void()> task; // work handed back by a background thread
    bool end = false;
  };
  struct WorkspaceFacts;

  void reader_loop(std::istream& in);
  void push(Event e);
  enum class Popped : std::uint8_t { Event, End, Idle };
  // The next event; Idle when `idle_ms` (>= 0) passed without one.
  Popped pop(Event& e, int idle_ms);
  [[nodiscard]] bool queue_empty();

  void handle(const Message& m);
  void handle_request(const Message& m);
  void handle_notification(const Message& m);
  Json initialize(const Json& params);
  void initialized(const Json& params);
  void did_open(const Json& params);
  void did_change(const Json& params);
  void did_close(const Json& params);
  void did_save(const Json& params);
  void did_change_configuration(const Json& params);
  void did_change_watched_files(const Json& params);
  Json code_action(const Json& params);
  Json hover(const Json& params);

  void read_settings(const Json& settings);
  void configuration_changed();
  void scan_workspace();
  Document* document(const Json& params);
  void lint(Document& doc);
  void lint_stale_documents();
  [[nodiscard]] bool any_provisional() const;
  void confirm_provisional_documents();
  void publish(const Document& doc);
  model::ProjectContext context_for(const std::string& path) const;
  const model::ProjectContext& context_of(Document& doc);
  std::shared_ptr<const service::Settings> settings_for(Document& doc);

  Json diagnostic(const Document& doc, const Finding& f) const;
  Json range(const SourceFile& source, std::uint32_t start, std::uint32_t end) const;
  Json fix_action(const Document& doc, const Finding& f) const;
  Json noqa_action(const Document& doc, const Finding& f) const;
  std::optional<Json> fix_all_action(Document& doc);

  service::LintService& m_service;
  FrameWriter& m_out;
  ServerOptions m_options;
  syntax::Parser m_parser;

  std::mutex m_queue_mutex;
  std::condition_variable m_queue_cv;
  std::deque<Event> m_queue;
  std::mutex m_cancel_mutex;
  std::set<std::string> m_cancelled; // request ids (dumped) cancelled before they were handled

  bool m_initialized = false;
  bool m_shutdown = false;
  bool m_exit = false;
  ColumnUnit m_unit = ColumnUnit::Utf16;
  bool m_related_information = false;
  bool m_watch_registration = false;
  std::vector<std::string> m_roots;
  service::Overrides m_overrides;
  std::map<std::string, Document> m_documents; // by URI
  std::shared_ptr<WorkspaceFacts> m_workspace;
  std::atomic<int> m_scan_generation{0};
  std::vector<std::thread> m_scans;
};

} // namespace oomlint::lsp
