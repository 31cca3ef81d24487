#include "analyzer/syntax/parser.hpp"

#include <stdexcept>

#include "analyzer/syntax/python_grammar.hpp"

namespace oomlint::syntax {

Parser::Parser() : m_parser(ts_parser_new()) {
  if (!ts_parser_set_language(m_parser, grammar().language)) {
    ts_parser_delete(m_parser);
    m_parser = nullptr;
    throw std::runtime_error(grammar_problem());
  }
}

Parser::~Parser() {
  if (m_parser != nullptr) {
    ts_parser_delete(m_parser);
  }
}

Tree Parser::parse(std::string_view text, const Tree* old) {
  TSTree* tree = ts_parser_parse_string(m_parser, old != nullptr ? old->get() : nullptr, text.data(),
                                        static_cast<uint32_t>(text.size()));
  return Tree(tree);
}

Tree Parser::parse_within(std::string_view text, const Tree* old, std::uint64_t timeout_micros) {
  ts_parser_set_timeout_micros(m_parser, timeout_micros);
  Tree tree = parse(text, old);
  ts_parser_set_timeout_micros(m_parser, 0);
  if (!tree) {
    ts_parser_reset(m_parser);
  }
  return tree;
}

} // namespace oomlint::syntax
