#pragma once
// Builds a semantic model from a Python snippet and finds nodes by their source text, so
// model tests read as "in this code, this expression carries a graph".
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "analyzer/model/model.hpp"
#include "analyzer/source/source_file.hpp"
#include "analyzer/syntax/parser.hpp"

namespace oomlint::testing {

class ModelFixture {
public:
  explicit ModelFixture(std::string code, model::ModelOptions options = {})
      : m_source(std::make_unique<SourceFile>("snippet.py", std::move(code))), m_tree(m_parser.parse(m_source->text())),
        m_model(std::make_unique<model::Model>(*m_source, m_tree.root(), options)) {}

  [[nodiscard]] const model::Model& model() const { return *m_model; }

  // The `nth` node (0-based, in document order) whose source text is exactly `text`.
  [[nodiscard]] TSNode node(const std::string& text, int nth = 0) const {
    std::vector<TSNode> stack{m_tree.root()};
    std::vector<TSNode> found;
    while (!stack.empty()) {
      TSNode n = stack.back();
      stack.pop_back();
      if (syntax::node_text(n, m_source->text()) == text && ts_node_is_named(n)) {
        found.push_back(n);
      }
      for (uint32_t i = ts_node_child_count(n); i > 0; --i) {
        stack.push_back(ts_node_child(n, i - 1));
      }
    }
    // Outermost first in document order; skip a node whose only child has the same text.
    std::vector<TSNode> distinct;
    for (TSNode n : found) {
      if (distinct.empty() || ts_node_start_byte(distinct.back()) != ts_node_start_byte(n)) {
        distinct.push_back(n);
      }
    }
    if (nth >= static_cast<int>(distinct.size())) {
      throw std::runtime_error("no node with text: " + text);
    }
    return distinct[static_cast<size_t>(nth)];
  }

  [[nodiscard]] bool carries(const std::string& text, int nth = 0) const {
    return m_model->value_of(node(text, nth)).carries_graph();
  }

  [[nodiscard]] const model::Call* call(const std::string& text, int nth = 0) const {
    const TSNode n = node(text, nth);
    for (const model::Call& c : m_model->calls()) {
      if (ts_node_start_byte(c.node) == ts_node_start_byte(n) && ts_node_end_byte(c.node) == ts_node_end_byte(n)) {
        return &c;
      }
    }
    return nullptr;
  }

private:
  std::unique_ptr<SourceFile> m_source;
  syntax::Parser m_parser;
  syntax::Tree m_tree;
  std::unique_ptr<model::Model> m_model;
};

} // namespace oomlint::testing
