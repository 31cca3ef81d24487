// The language server's protocol layers, each on its own: framing, JSON-RPC, buffer edits, and
// whole transcripts run through the server in-process (messages in, messages out).
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "analyzer/syntax/parser.hpp"
#include "analyzer/syntax/recovery.hpp"
#include "editors/lsp/documents.hpp"
#include "editors/lsp/jsonrpc.hpp"
#include "editors/lsp/server.hpp"
#include "editors/lsp/transport.hpp"
#include "rules/registry.hpp"

namespace oomlint::lsp {
namespace {

std::string frame(const std::string& body) {
  return "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::string frame(const Json& j) {
  return frame(j.dump());
}

std::vector<Json> read_all(const std::string& out) {
  std::istringstream in(out);
  FrameReader reader(in);
  std::vector<Json> messages;
  for (Frame f = reader.next(); f.kind != Frame::Kind::End; f = reader.next()) {
    EXPECT_EQ(f.kind, Frame::Kind::Message) << f.reason;
    messages.push_back(Json::parse(f.body));
  }
  return messages;
}

TEST(LspTransport, ReadsFramesWithAnyHeaderOrder) {
  std::istringstream in("Content-Type: application/vscode-jsonrpc; charset=utf-8\r\nContent-Length: 2\r\n\r\n{}" +
                        frame(std::string("[1]")));
  FrameReader reader(in);
  Frame a = reader.next();
  ASSERT_EQ(a.kind, Frame::Kind::Message);
  EXPECT_EQ(a.body, "{}");
  Frame b = reader.next();
  ASSERT_EQ(b.kind, Frame::Kind::Message);
  EXPECT_EQ(b.body, "[1]");
  EXPECT_EQ(reader.next().kind, Frame::Kind::End);
}

TEST(LspTransport, ABadHeaderIsReportedAndTheNextFrameStillRead) {
  std::istringstream in("Content-Length: lots\r\n\r\n{}" + frame(std::string("{\"a\":1}")) + "X-Nothing: 1\r\n\r\n" +
                        frame(std::string("{\"b\":2}")));
  FrameReader reader(in);
  EXPECT_EQ(reader.next().kind, Frame::Kind::BadHeader);
  Frame good = reader.next();
  ASSERT_EQ(good.kind, Frame::Kind::Message);
  EXPECT_EQ(good.body, "{\"a\":1}");
  Frame no_length = reader.next();
  EXPECT_EQ(no_length.kind, Frame::Kind::BadHeader);
  EXPECT_NE(no_length.reason.find("Content-Length"), std::string::npos);
  Frame after = reader.next();
  ASSERT_EQ(after.kind, Frame::Kind::Message);
  EXPECT_EQ(after.body, "{\"b\":2}");
}

TEST(LspTransport, TooShortALengthCutsTheMessageButNotTheNext) {
  // The first message claims 5 bytes of its 7: its rest runs into the next header.
  std::istringstream in("Content-Length: 5\r\n\r\n{\"a\":1}" + frame(std::string("{\"b\":2}")));
  FrameReader reader(in);
  Frame cut = reader.next();
  ASSERT_EQ(cut.kind, Frame::Kind::Message);
  EXPECT_EQ(parse_message(cut.body).error_code, error_code::kParseError);
  Frame next = reader.next();
  ASSERT_EQ(next.kind, Frame::Kind::Message);
  EXPECT_EQ(next.body, "{\"b\":2}");
}

TEST(LspTransport, AFrameCutOffByTheEndOfTheStreamEndsIt) {
  std::istringstream in("Content-Length: 50\r\n\r\n{\"a\":");
  FrameReader reader(in);
  EXPECT_EQ(reader.next().kind, Frame::Kind::End);
}

TEST(LspJsonRpc, ClassifiesMessages) {
  EXPECT_EQ(parse_message(R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{}})").kind,
            Message::Kind::Request);
  EXPECT_EQ(parse_message(R"({"jsonrpc":"2.0","method":"initialized"})").kind, Message::Kind::Notification);
  EXPECT_EQ(parse_message(R"({"jsonrpc":"2.0","id":"a","result":null})").kind, Message::Kind::Response);
  const Message bad_json = parse_message("{\"jsonrpc\":");
  EXPECT_EQ(bad_json.kind, Message::Kind::Invalid);
  EXPECT_EQ(bad_json.error_code, error_code::kParseError);
  for (const char* invalid : {R"([1,2])", R"({"id":1,"method":"x"})", R"({"jsonrpc":"2.0","id":{},"method":"x"})",
                              R"({"jsonrpc":"2.0","id":1,"method":7})", R"({"jsonrpc":"2.0","id":1})",
                              R"({"jsonrpc":"2.0","id":1,"method":"x","params":3})"}) {
    const Message m = parse_message(invalid);
    EXPECT_EQ(m.kind, Message::Kind::Invalid) << invalid;
    EXPECT_EQ(m.error_code, error_code::kInvalidRequest) << invalid;
  }
}

TEST(LspDocuments, IncrementalChangesCountUtf16OrUtf8Columns) {
  // `é` is one UTF-16 unit and two bytes; `😀` two UTF-16 units and four bytes.
  Document doc;
  doc.text = "s = 'é😀'\nx = 1\n";
  // Insert after the emoji: UTF-16 column 8, byte column 11.
  const Json change16 = {
      {"range", {{"start", {{"line", 0}, {"character", 8}}}, {"end", {{"line", 0}, {"character", 8}}}}}, {"text", "!"}};
  ASSERT_TRUE(apply_change(doc, change16, ColumnUnit::Utf16));
  EXPECT_EQ(doc.text, "s = 'é😀!'\nx = 1\n");
  const Json change8 = {
      {"range", {{"start", {{"line", 0}, {"character", 11}}}, {"end", {{"line", 0}, {"character", 12}}}}},
      {"text", ""}};
  ASSERT_TRUE(apply_change(doc, change8, ColumnUnit::Byte));
  EXPECT_EQ(doc.text, "s = 'é😀'\nx = 1\n");
  EXPECT_FALSE(apply_change(doc, Json{{"range", 3}, {"text", "x"}}, ColumnUnit::Utf16));
  ASSERT_TRUE(apply_change(doc, Json{{"text", "new"}}, ColumnUnit::Utf16));
  EXPECT_EQ(doc.text, "new");
}

// The tree kept across edits, re-parsed incrementally, reads as a fresh parse of the new text.
// The edits a document keeps, told to its last tree either way (exactly, or as whole lines) or
// through reparse(), give the tree a fresh parse gives.
TEST(LspDocuments, AnEditedTreeReparsesToTheSameTreeAsAFreshParse) {
  syntax::Parser parser;
  Document doc;
  doc.text = "def f(x):\n    total = 0\n    for i in x:\n        total += i\n    return total\n";
  doc.tree = parser.parse(doc.text);
  const std::vector<Json> edits = {
      {{"range", {{"start", {{"line", 0}, {"character", 0}}}, {"end", {{"line", 0}, {"character", 0}}}}},
       {"text", "import torch\n\n"}},
      {{"range", {{"start", {{"line", 5}, {"character", 8}}}, {"end", {{"line", 5}, {"character", 13}}}}},
       {"text", "running"}},
      {{"range", {{"start", {{"line", 3}, {"character", 4}}}, {"end", {{"line", 4}, {"character", 0}}}}}, {"text", ""}},
  };
  auto same_as_fresh = [&](const syntax::Tree& incremental) {
    const syntax::Tree fresh = parser.parse(doc.text);
    char* a = ts_node_string(incremental.root());
    char* b = ts_node_string(fresh.root());
    EXPECT_STREQ(a, b) << doc.text;
    std::free(a);
    std::free(b);
  };
  for (const Json& e : edits) {
    ASSERT_TRUE(apply_change(doc, e, ColumnUnit::Utf16));
    ASSERT_EQ(doc.edits.size(), 1U);
    ASSERT_EQ(doc.exact_edits.size(), 1U);
    for (const std::vector<TSInputEdit>* told : {&doc.edits, &doc.exact_edits}) {
      syntax::Tree edited(ts_tree_copy(doc.tree.get()));
      ts_tree_edit(edited.get(), &told->front());
      same_as_fresh(parser.parse(doc.text, &edited));
    }
    syntax::Tree next = syntax::reparse(parser, doc.text, syntax::EarlierTree{doc.tree, doc.exact_edits, doc.edits});
    same_as_fresh(next);
    doc.tree = std::move(next);
    doc.edits.clear();
    doc.exact_edits.clear();
  }
}

TEST(LspDocuments, FileUrisAndPaths) {
  EXPECT_EQ(uri_to_path("file:///home/me/my%20project/train.py"), "/home/me/my project/train.py");
  EXPECT_EQ(uri_to_path("file://localhost/tmp/a.py"), "/tmp/a.py");
  EXPECT_EQ(uri_to_path("untitled:Untitled-1"), "");
  EXPECT_EQ(path_to_uri("/home/me/my project/é.py"), "file:///home/me/my%20project/%C3%A9.py");
  EXPECT_EQ(uri_to_path(path_to_uri("/a b/c#d.py")), "/a b/c#d.py");
}

// ---- transcripts through the server, in-process -------------------------------------------

class LspTranscript : public ::testing::Test {
protected:
  std::vector<Json> run(const std::vector<std::string>& frames, int* exit_code = nullptr) {
    std::string input;
    for (const std::string& f : frames) {
      input += f;
    }
    std::istringstream in(input);
    std::ostringstream out;
    service::LintService lint_service(rules::all_rules(), "https://example.org/rules/");
    FrameWriter writer(out);
    Server server(lint_service, writer, ServerOptions{"test", 1});
    const int code = server.run(in);
    if (exit_code != nullptr) {
      *exit_code = code;
    }
    return read_all(out.str());
  }
  static std::string initialize(const Json& capabilities = Json::object()) {
    return frame(
        Json{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "initialize"}, {"params", {{"capabilities", capabilities}}}});
  }
  static std::string notify(const std::string& method, const Json& params) {
    return frame(Json{{"jsonrpc", "2.0"}, {"method", method}, {"params", params}});
  }
  static std::string call(int id, const std::string& method, const Json& params) {
    return frame(Json{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}});
  }
  static std::string open(const std::string& text) {
    return notify("textDocument/didOpen",
                  {{"textDocument", {{"uri", kUri}, {"languageId", "python"}, {"version", 1}, {"text", text}}}});
  }
  static std::string shutdown_and_exit() { return call(99, "shutdown", nullptr) + notify("exit", nullptr); }
  static const Json* reply(const std::vector<Json>& messages, int id) {
    for (const Json& m : messages) {
      if (m.contains("id") && m["id"] == id && !m.contains("method")) {
        return &m;
      }
    }
    return nullptr;
  }
  static std::vector<Json> diagnostics(const std::vector<Json>& messages) {
    std::vector<Json> out;
    for (const Json& m : messages) {
      if (m.value("method", "") == "textDocument/publishDiagnostics") {
        out.push_back(m["params"]);
      }
    }
    return out;
  }
  static constexpr const char* kUri = "file:///nonexistent-oomlint-lsp/train.py";
  static constexpr const char* kLeak = "def train(model, loader, opt):\n"
                                       "    total = 0\n"
                                       "    for x, y in loader:\n"
                                       "        loss = (model(x) - y).pow(2).mean()\n"
                                       "        loss.backward()\n"
                                       "        opt.step()\n"
                                       "        total += loss\n"
                                       "    return total\n";
};

TEST_F(LspTranscript, LifecycleAndErrors) {
  int code = -1;
  const auto out =
      run({call(7, "textDocument/hover", Json::object()), initialize(), notify("initialized", Json::object()),
           frame(std::string("{oops")), call(8, "oomlint/unknown", Json::object()),
           call(9, "textDocument/hover", Json::array()), shutdown_and_exit()},
          &code);
  ASSERT_NE(reply(out, 7), nullptr);
  EXPECT_EQ((*reply(out, 7))["error"]["code"], error_code::kServerNotInitialized);
  ASSERT_NE(reply(out, 1), nullptr);
  const Json& caps = (*reply(out, 1))["result"]["capabilities"];
  EXPECT_EQ(caps["positionEncoding"], "utf-16");
  EXPECT_EQ(caps["textDocumentSync"]["change"], 2);
  bool parse_error = false;
  for (const Json& m : out) {
    parse_error =
        parse_error || (m.contains("error") && m["error"]["code"] == error_code::kParseError && m["id"].is_null());
  }
  EXPECT_TRUE(parse_error);
  EXPECT_EQ((*reply(out, 8))["error"]["code"], error_code::kMethodNotFound);
  EXPECT_EQ((*reply(out, 9))["error"]["code"], error_code::kInvalidParams);
  EXPECT_TRUE((*reply(out, 99))["result"].is_null());
  EXPECT_EQ(code, 0);
}

// A workspace of `/` is not walked for workspace facts: the server says so and goes on.
TEST_F(LspTranscript, TheFilesystemRootIsNotScanned) {
  const auto out = run({frame(Json{{"jsonrpc", "2.0"},
                                   {"id", 1},
                                   {"method", "initialize"},
                                   {"params", {{"rootUri", "file:///"}, {"capabilities", Json::object()}}}}),
                        notify("initialized", Json::object()), open(kLeak), shutdown_and_exit()});
  bool told = false;
  for (const Json& m : out) {
    told = told || (m.value("method", "") == "window/logMessage" &&
                    m["params"]["message"].get<std::string>().find("not scanned") != std::string::npos);
  }
  EXPECT_TRUE(told);
  ASSERT_FALSE(diagnostics(out).empty());
  EXPECT_EQ(diagnostics(out).back()["diagnostics"].size(), 1U);
}

TEST_F(LspTranscript, ExitWithoutShutdownIsAnError) {
  int code = -1;
  run({initialize(), notify("exit", nullptr)}, &code);
  EXPECT_EQ(code, 1);
}

TEST_F(LspTranscript, DiagnosticsFollowEditsAndCarryTheirEvidence) {
  const Json insert_line = {
      {"textDocument", {{"uri", kUri}, {"version", 2}}},
      {"contentChanges",
       {{{"range", {{"start", {{"line", 0}, {"character", 0}}}, {"end", {{"line", 0}, {"character", 0}}}}},
         {"text", "import torch\n"}}}}};
  const auto out = run({initialize({{"textDocument", {{"publishDiagnostics", {{"relatedInformation", true}}}}}}),
                        notify("initialized", Json::object()), open(kLeak),
                        call(2, "textDocument/hover",
                             {{"textDocument", {{"uri", kUri}}}, {"position", {{"line", 6}, {"character", 9}}}}),
                        notify("textDocument/didChange", insert_line),
                        call(3, "textDocument/hover",
                             {{"textDocument", {{"uri", kUri}}}, {"position", {{"line", 7}, {"character", 9}}}}),
                        shutdown_and_exit()});
  const auto published = diagnostics(out);
  ASSERT_GE(published.size(), 2U);
  const Json& first = published.front();
  EXPECT_EQ(first["version"], 1);
  ASSERT_EQ(first["diagnostics"].size(), 1U) << first.dump();
  const Json& d = first["diagnostics"][0];
  EXPECT_EQ(d["code"], "OOM101");
  EXPECT_EQ(d["source"], "oomlint");
  EXPECT_EQ(d["severity"], 2);
  EXPECT_EQ(d["codeDescription"]["href"], "https://example.org/rules/OOM101.md");
  EXPECT_EQ(d["range"]["start"], Json({{"line", 6}, {"character", 8}}));
  ASSERT_TRUE(d.contains("relatedInformation"));
  EXPECT_EQ(d["relatedInformation"][0]["location"]["uri"], kUri);
  const Json& moved = published.back();
  EXPECT_EQ(moved["version"], 2);
  ASSERT_EQ(moved["diagnostics"].size(), 1U);
  EXPECT_EQ(moved["diagnostics"][0]["range"]["start"]["line"], 7);
  // Hover on the finding shows the rule's page, before and after the edit.
  ASSERT_NE(reply(out, 2), nullptr);
  EXPECT_NE((*reply(out, 2))["result"]["contents"]["value"].get<std::string>().find("OOM101"), std::string::npos);
  EXPECT_NE((*reply(out, 3))["result"]["contents"]["value"].get<std::string>().find("## Why it costs memory"),
            std::string::npos);
}

TEST_F(LspTranscript, CodeActionsFixSuppressAndFixAll) {
  const Json range = {{"start", {{"line", 6}, {"character", 0}}}, {"end", {{"line", 6}, {"character", 20}}}};
  const auto out = run(
      {initialize(), notify("initialized", Json::object()),
       notify("workspace/didChangeConfiguration", {{"settings", {{"oomlint", {{"unsafeFixes", true}}}}}}), open(kLeak),
       call(2, "textDocument/codeAction",
            {{"textDocument", {{"uri", kUri}}}, {"range", range}, {"context", {{"diagnostics", Json::array()}}}}),
       call(3, "textDocument/codeAction",
            {{"textDocument", {{"uri", kUri}}},
             {"range", range},
             {"context", {{"diagnostics", Json::array()}, {"only", {"source.fixAll"}}}}}),
       shutdown_and_exit()});
  ASSERT_NE(reply(out, 2), nullptr);
  const Json& actions = (*reply(out, 2))["result"];
  std::vector<std::string> titles;
  for (const Json& a : actions) {
    titles.push_back(a["title"]);
  }
  ASSERT_EQ(actions.size(), 3U) << actions.dump();
  EXPECT_EQ(actions[0]["kind"], "quickfix");
  const Json& fix_edit = actions[0]["edit"]["changes"][kUri][0];
  EXPECT_EQ(fix_edit["newText"], ".detach()");
  EXPECT_EQ(fix_edit["range"]["start"], Json({{"line", 6}, {"character", 21}}));
  EXPECT_EQ(actions[1]["title"], "Disable OOM101 for this line");
  EXPECT_EQ(actions[1]["edit"]["changes"][kUri][0]["newText"], "  # noqa: OOM101");
  EXPECT_EQ(actions[2]["kind"], "source.fixAll.oomlint");
  // Asked only for fix-all: nothing else.
  const Json& only = (*reply(out, 3))["result"];
  ASSERT_EQ(only.size(), 1U);
  EXPECT_EQ(only[0]["kind"], "source.fixAll.oomlint");
  EXPECT_NE(only[0]["edit"]["changes"][kUri][0]["newText"].get<std::string>().find("total += loss.detach()"),
            std::string::npos);
}

// With UTF-8 offered, columns count bytes; otherwise UTF-16 units: a line with non-ASCII text
// before the finding lands on the right column either way.
TEST_F(LspTranscript, PositionEncodingIsNegotiated) {
  const std::string text = std::string(kLeak).replace(std::string(kLeak).find("        total += loss"), 21,
                                                      "        s = 'é'; total += loss");
  for (const bool utf8 : {false, true}) {
    const Json caps = utf8 ? Json{{"general", {{"positionEncodings", {"utf-8", "utf-16"}}}}} : Json::object();
    const auto out = run({initialize(caps), notify("initialized", Json::object()), open(text), shutdown_and_exit()});
    EXPECT_EQ((*reply(out, 1))["result"]["capabilities"]["positionEncoding"], utf8 ? "utf-8" : "utf-16");
    const auto published = diagnostics(out);
    ASSERT_FALSE(published.empty());
    ASSERT_EQ(published.back()["diagnostics"].size(), 1U) << published.back().dump();
    EXPECT_EQ(published.back()["diagnostics"][0]["range"]["start"]["character"], utf8 ? 18 : 17);
  }
}

TEST_F(LspTranscript, ACancelledRequestIsAnsweredAsCancelled) {
  const auto out =
      run({initialize(), notify("initialized", Json::object()), open(kLeak), notify("$/cancelRequest", {{"id", 5}}),
           call(5, "textDocument/hover",
                {{"textDocument", {{"uri", kUri}}}, {"position", {{"line", 6}, {"character", 9}}}}),
           shutdown_and_exit()});
  ASSERT_NE(reply(out, 5), nullptr);
  EXPECT_EQ((*reply(out, 5))["error"]["code"], error_code::kRequestCancelled);
}

TEST_F(LspTranscript, ClosingABufferClearsItsDiagnostics) {
  const auto out = run({initialize(), notify("initialized", Json::object()), open(kLeak),
                        call(2, "textDocument/hover",
                             {{"textDocument", {{"uri", kUri}}}, {"position", {{"line", 0}, {"character", 0}}}}),
                        notify("textDocument/didClose", {{"textDocument", {{"uri", kUri}}}}), shutdown_and_exit()});
  const auto published = diagnostics(out);
  ASSERT_GE(published.size(), 2U);
  EXPECT_EQ(published.front()["diagnostics"].size(), 1U);
  EXPECT_TRUE(published.back()["diagnostics"].empty());
}

} // namespace
} // namespace oomlint::lsp
