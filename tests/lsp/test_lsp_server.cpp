// `oomlint server` as an editor meets it: a separate process spoken to over pipes, message by
// message, waiting for what it publishes. Checks that stdout carries nothing but protocol and that
// buffers are linted with the facts of the workspace around them.
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

class ServerProcess {
public:
  explicit ServerProcess(const fs::path& cwd) {
    int in_pipe[2];
    int out_pipe[2];
    if (::pipe(in_pipe) != 0 || ::pipe(out_pipe) != 0) {
      return;
    }
    m_pid = ::fork();
    if (m_pid == 0) {
      ::dup2(in_pipe[0], 0);
      ::dup2(out_pipe[1], 1);
      for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1]}) {
        ::close(fd);
      }
      if (::chdir(cwd.c_str()) != 0) {
        ::_exit(127);
      }
      std::string binary = OOMLINT_BINARY;
      std::string command = "server";
      char* argv[] = {binary.data(), command.data(), nullptr};
      ::execv(binary.c_str(), argv);
      ::_exit(127);
    }
    ::close(in_pipe[0]);
    ::close(out_pipe[1]);
    m_in = in_pipe[1];
    m_out = out_pipe[0];
  }
  ~ServerProcess() {
    if (m_in >= 0) {
      ::close(m_in);
    }
    if (m_out >= 0) {
      ::close(m_out);
    }
    if (m_pid > 0 && !m_reaped) {
      ::kill(m_pid, SIGKILL);
      ::waitpid(m_pid, nullptr, 0);
    }
  }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  void send(const Json& message) { send_raw(message.dump()); }
  void send_raw(const std::string& body) {
    const std::string frame = "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    ASSERT_EQ(::write(m_in, frame.data(), frame.size()), static_cast<ssize_t>(frame.size()));
  }
  // The next message, or nothing when none comes within the timeout. Anything on stdout that
  // is not a frame fails the test.
  std::optional<Json> next(std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      const std::size_t header_end = m_buffer.find("\r\n\r\n");
      if (header_end != std::string::npos) {
        EXPECT_TRUE(m_buffer.starts_with("Content-Length: ")) << "not protocol on stdout: " << m_buffer.substr(0, 80);
        const std::size_t length = std::stoul(m_buffer.substr(16, header_end - 16));
        if (m_buffer.size() >= header_end + 4 + length) {
          Json j = Json::parse(m_buffer.substr(header_end + 4, length));
          m_buffer.erase(0, header_end + 4 + length);
          return j;
        }
      }
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        return std::nullopt;
      }
      pollfd p{m_out, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
        return std::nullopt;
      }
      char buf[65536];
      const ssize_t n = ::read(m_out, buf, sizeof buf);
      if (n <= 0) {
        return std::nullopt;
      }
      m_buffer.append(buf, static_cast<std::size_t>(n));
    }
  }
  // Reads until `pred` holds for a message; the messages passed over are kept in `seen`.
  std::optional<Json> wait_for(const std::function<bool(const Json&)>& pred) {
    while (auto m = next()) {
      seen.push_back(*m);
      if (pred(*m)) {
        return m;
      }
    }
    return std::nullopt;
  }
  int wait_exit() {
    ::close(m_in);
    m_in = -1;
    int status = 0;
    ::waitpid(m_pid, &status, 0);
    m_reaped = true;
    // What is left on stdout after the last reply must be empty.
    char buf[4096];
    ssize_t n = 0;
    while ((n = ::read(m_out, buf, sizeof buf)) > 0) {
      m_buffer.append(buf, static_cast<std::size_t>(n));
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  [[nodiscard]] const std::string& unread() const { return m_buffer; }
  std::vector<Json> seen;

private:
  pid_t m_pid = -1;
  int m_in = -1;
  int m_out = -1;
  bool m_reaped = false;
  std::string m_buffer;
};

class LspServer : public ::testing::Test {
protected:
  void SetUp() override {
    m_dir = fs::temp_directory_path() / ("oomlint-lsp-" + std::to_string(::getpid()));
    fs::remove_all(m_dir);
    fs::create_directories(m_dir);
  }
  void TearDown() override { fs::remove_all(m_dir); }
  fs::path write(const std::string& name, const std::string& text) {
    fs::create_directories((m_dir / name).parent_path());
    std::ofstream(m_dir / name, std::ios::binary) << text;
    return m_dir / name;
  }
  std::string uri(const std::string& name) const { return "file://" + (m_dir / name).string(); }
  fs::path m_dir;
};

bool diagnostics_with(const Json& m, const std::string& uri, const std::string& code) {
  if (m.value("method", "") != "textDocument/publishDiagnostics" || m["params"]["uri"] != uri) {
    return false;
  }
  for (const Json& d : m["params"]["diagnostics"]) {
    if (d["code"] == code) {
      return true;
    }
  }
  return false;
}

// A loss computed in another module of the workspace: alone, the buffer cannot tell what it is
// and oomlint stays quiet; with the workspace's facts the accumulation is a leak.
TEST_F(LspServer, BuffersAreLintedWithTheWorkspacesFacts) {
  write("pkg/__init__.py", "");
  write("pkg/losses.py", "import torch.nn.functional as F\n\n\ndef compute_loss(model, batch):\n"
                         "    x, y = batch\n    return F.cross_entropy(model(x), y)\n");
  const std::string text = "from .losses import compute_loss\n\n\ndef validate(model, loader):\n    total = 0.0\n"
                           "    for batch in loader:\n        total += compute_loss(model, batch)\n    return total\n";
  write("pkg/train.py", text);
  ServerProcess server(m_dir);
  server.send({{"jsonrpc", "2.0"},
               {"id", 1},
               {"method", "initialize"},
               {"params", {{"rootUri", "file://" + m_dir.string()}, {"capabilities", Json::object()}}}});
  auto init = server.wait_for([](const Json& m) { return m.contains("id") && m["id"] == 1; });
  ASSERT_TRUE(init);
  EXPECT_EQ((*init)["result"]["serverInfo"]["name"], "oomlint");
  server.send({{"jsonrpc", "2.0"}, {"method", "initialized"}, {"params", Json::object()}});
  server.send(
      {{"jsonrpc", "2.0"},
       {"method", "textDocument/didOpen"},
       {"params",
        {{"textDocument", {{"uri", uri("pkg/train.py")}, {"languageId", "python"}, {"version", 1}, {"text", text}}}}}});
  auto found = server.wait_for([&](const Json& m) { return diagnostics_with(m, uri("pkg/train.py"), "OOM101"); });
  ASSERT_TRUE(found) << "no OOM101 with the workspace's facts";
  EXPECT_EQ((*found)["params"]["diagnostics"][0]["range"]["start"]["line"], 6);
  server.send({{"jsonrpc", "2.0"}, {"id", 2}, {"method", "shutdown"}});
  ASSERT_TRUE(server.wait_for([](const Json& m) { return m.contains("id") && m["id"] == 2; }));
  server.send({{"jsonrpc", "2.0"}, {"method", "exit"}});
  EXPECT_EQ(server.wait_exit(), 0);
  std::string seen;
  for (const Json& m : server.seen) {
    seen += m.dump() + "\n";
  }
  EXPECT_TRUE(server.unread().empty()) << server.unread() << "\nseen:\n" << seen;
}

// Garbage in any shape gets JSON-RPC errors, never a crash, and the session goes on.
TEST_F(LspServer, BadInputGetsErrorsAndTheSessionGoesOn) {
  ServerProcess server(m_dir);
  server.send_raw("{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": ");
  auto parse_error = server.wait_for([](const Json& m) { return m.contains("error"); });
  ASSERT_TRUE(parse_error);
  EXPECT_EQ((*parse_error)["error"]["code"], -32700);
  server.send(
      {{"jsonrpc", "2.0"}, {"id", 2}, {"method", "initialize"}, {"params", {{"capabilities", Json::object()}}}});
  ASSERT_TRUE(server.wait_for([](const Json& m) { return m.contains("id") && m["id"] == 2; }));
  server.send({{"jsonrpc", "2.0"}, {"id", 3}, {"method", "workspace/symbol"}, {"params", Json::object()}});
  auto unknown = server.wait_for([](const Json& m) { return m.contains("id") && m["id"] == 3; });
  ASSERT_TRUE(unknown);
  EXPECT_EQ((*unknown)["error"]["code"], -32601);
  // Bytes that are not UTF-8 inside a string, then a buffer that does not parse as Python.
  server.send_raw("{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didOpen\",\"params\":{\"textDocument\":"
                  "{\"uri\":\"file:///x.py\",\"version\":1,\"text\":\"\xff\xfe\"}}}");
  server.send({{"jsonrpc", "2.0"},
               {"method", "textDocument/didOpen"},
               {"params", {{"textDocument", {{"uri", "file:///y.py"}, {"version", 1}, {"text", "def f(:\n  ((("}}}}}});
  server.send({{"jsonrpc", "2.0"}, {"id", 4}, {"method", "shutdown"}});
  ASSERT_TRUE(server.wait_for([](const Json& m) { return m.contains("id") && m["id"] == 4; }));
  server.send({{"jsonrpc", "2.0"}, {"method", "exit"}});
  EXPECT_EQ(server.wait_exit(), 0);
  bool syntax_error = false;
  for (const Json& m : server.seen) {
    syntax_error = syntax_error || diagnostics_with(m, "file:///y.py", "OOM000");
  }
  EXPECT_TRUE(syntax_error);
}

// The OOM101 lines of the diagnostics published for `version` of `uri`.
std::vector<int> oom101_lines(ServerProcess& server, const std::string& uri, int version) {
  auto m = server.wait_for([&](const Json& j) {
    return j.value("method", "") == "textDocument/publishDiagnostics" && j["params"]["uri"] == uri &&
           j["params"].value("version", -1) == version;
  });
  std::vector<int> lines;
  if (m) {
    for (const Json& d : (*m)["params"]["diagnostics"]) {
      if (d["code"] == "OOM101") {
        lines.push_back(d["range"]["start"]["line"].get<int>());
      }
    }
  }
  return lines;
}

Json change(const std::string& uri, int version, int line, int from, int to, const std::string& text) {
  return {{"jsonrpc", "2.0"},
          {"method", "textDocument/didChange"},
          {"params",
           {{"textDocument", {{"uri", uri}, {"version", version}}},
            {"contentChanges", Json::array({{{"range",
                                              {{"start", {{"line", line}, {"character", from}}},
                                               {"end", {{"line", line}, {"character", to}}}}},
                                             {"text", text}}})}}}};
}

// After an edit only the functions it can reach are analysed again: a change to a helper reaches
// the loop that calls it; a change elsewhere moves the loop's finding without analysing it; and
// once the editor is quiet, a whole lint that agrees publishes nothing more.
TEST_F(LspServer, EditsReachTheFunctionsThatDependOnThem) {
  const std::string text = "import torch.nn.functional as F\n"            // 0
                           "\n\n"                                         // 1-2
                           "def scale(a):\n"                              // 3
                           "    return a * 2\n"                           // 4
                           "\n\n"                                         // 5-6
                           "def compute_loss(model, x, y):\n"             // 7
                           "    return F.cross_entropy(model(x), y)\n"    // 8
                           "\n\n"                                         // 9-10
                           "def validate(model, loader):\n"               // 11
                           "    total = 0.0\n"                            // 12
                           "    for x, y in loader:\n"                    // 13
                           "        total += compute_loss(model, x, y)\n" // 14
                           "    return total\n";                          // 15
  const std::string u = uri("train.py");
  write("train.py", text);
  ServerProcess server(m_dir);
  server.send({{"jsonrpc", "2.0"},
               {"id", 1},
               {"method", "initialize"},
               {"params", {{"rootUri", nullptr}, {"capabilities", Json::object()}}}});
  ASSERT_TRUE(server.wait_for([](const Json& m) { return m.contains("id") && m["id"] == 1; }));
  server.send({{"jsonrpc", "2.0"}, {"method", "initialized"}, {"params", Json::object()}});
  server.send({{"jsonrpc", "2.0"},
               {"method", "textDocument/didOpen"},
               {"params", {{"textDocument", {{"uri", u}, {"languageId", "python"}, {"version", 1}, {"text", text}}}}}});
  EXPECT_EQ(oom101_lines(server, u, 1), std::vector<int>{14});
  // A line added inside `scale`, above the loop: the finding moves down with it.
  server.send(change(u, 2, 4, 16, 16, "\n    a = a + 1"));
  EXPECT_EQ(oom101_lines(server, u, 2), std::vector<int>{15});
  // The helper now returns a number: the loop that calls it no longer keeps graphs.
  server.send(change(u, 3, 9, 39, 39, ".item()"));
  EXPECT_EQ(oom101_lines(server, u, 3), std::vector<int>{});
  // And back.
  server.send(change(u, 4, 9, 39, 46, ""));
  EXPECT_EQ(oom101_lines(server, u, 4), std::vector<int>{15});
  const auto more = server.next(std::chrono::milliseconds(900));
  EXPECT_FALSE(more) << "published again after a whole lint that agrees: " << more->dump();
  server.send({{"jsonrpc", "2.0"}, {"id", 2}, {"method", "shutdown"}});
  ASSERT_TRUE(server.wait_for([](const Json& m) { return m.contains("id") && m["id"] == 2; }));
  server.send({{"jsonrpc", "2.0"}, {"method", "exit"}});
  EXPECT_EQ(server.wait_exit(), 0);
}

} // namespace
