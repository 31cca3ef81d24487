#pragma once
// Move-only owners of tree-sitter's C objects. TSNode stays a plain value.
#include <cstdint>
#include <string_view>
#include <utility>

#include <tree_sitter/api.h>

namespace oomlint::syntax {

class Tree {
public:
  Tree() = default;
  explicit Tree(TSTree* tree) : m_tree(tree) {}
  Tree(const Tree&) = delete;
  Tree& operator=(const Tree&) = delete;
  Tree(Tree&& other) noexcept : m_tree(std::exchange(other.m_tree, nullptr)) {}
  Tree& operator=(Tree&& other) noexcept {
    std::swap(m_tree, other.m_tree);
    return *this;
  }
  ~Tree() {
    if (m_tree != nullptr) {
      ts_tree_delete(m_tree);
    }
  }
  [[nodiscard]] TSNode root() const { return ts_tree_root_node(m_tree); }
  [[nodiscard]] TSTree* get() const { return m_tree; }
  explicit operator bool() const { return m_tree != nullptr; }

private:
  TSTree* m_tree = nullptr;
};

class Parser {
public:
  Parser();
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;
  Parser(Parser&& other) noexcept : m_parser(std::exchange(other.m_parser, nullptr)) {}
  Parser& operator=(Parser&& other) noexcept {
    std::swap(m_parser, other.m_parser);
    return *this;
  }
  ~Parser();

  // Parses UTF-8 text; `old` (optional) enables incremental re-parsing after ts_tree_edit.
  [[nodiscard]] Tree parse(std::string_view text, const Tree* old = nullptr);
  // The same, given up after `timeout_micros`: an empty tree then, and the parser is ready for
  // the next parse.
  [[nodiscard]] Tree parse_within(std::string_view text, const Tree* old, std::uint64_t timeout_micros);

private:
  TSParser* m_parser = nullptr;
};

inline std::string_view node_text(TSNode node, std::string_view source) {
  const uint32_t start = ts_node_start_byte(node);
  const uint32_t end = ts_node_end_byte(node);
  if (start >= source.size() || end < start) {
    return {};
  }
  return source.substr(start, end - start);
}

} // namespace oomlint::syntax
