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

} // namespace oomlint::syntax
