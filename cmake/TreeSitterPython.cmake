# The Python grammar comes from npm at configure time: `npm pack tree-sitter-python@<version>`,
# unpacked into the build tree; only its generated src/parser.c and src/scanner.c are compiled.
# Nothing of it is kept in the repository.
set(OOMLINT_GRAMMAR_VERSION "0.23.6" CACHE STRING "tree-sitter-python version from npm")
set(_grammar_root "${CMAKE_BINARY_DIR}/_deps/tree-sitter-python-${OOMLINT_GRAMMAR_VERSION}")
set(_grammar_src "${_grammar_root}/package/src")

if(NOT EXISTS "${_grammar_src}/parser.c")
  find_program(NPM_EXECUTABLE npm)
  if(NOT NPM_EXECUTABLE)
    message(FATAL_ERROR "npm is needed to fetch tree-sitter-python@${OOMLINT_GRAMMAR_VERSION}: "
                        "run scripts/setup.sh, or apt-get install npm")
  endif()
  file(MAKE_DIRECTORY "${_grammar_root}")
  message(STATUS "Fetching tree-sitter-python@${OOMLINT_GRAMMAR_VERSION} with npm pack")
  execute_process(
    COMMAND "${NPM_EXECUTABLE}" pack "tree-sitter-python@${OOMLINT_GRAMMAR_VERSION}" --silent
    WORKING_DIRECTORY "${_grammar_root}"
    RESULT_VARIABLE _npm_result OUTPUT_VARIABLE _npm_out ERROR_VARIABLE _npm_err)
  if(NOT _npm_result EQUAL 0)
    message(FATAL_ERROR "npm pack tree-sitter-python@${OOMLINT_GRAMMAR_VERSION} failed: ${_npm_err}")
  endif()
  file(ARCHIVE_EXTRACT INPUT "${_grammar_root}/tree-sitter-python-${OOMLINT_GRAMMAR_VERSION}.tgz"
       DESTINATION "${_grammar_root}" PATTERNS package/src package/LICENSE)
endif()

add_library(tree_sitter_python STATIC "${_grammar_src}/parser.c" "${_grammar_src}/scanner.c")
target_include_directories(tree_sitter_python PRIVATE "${_grammar_src}")
set_target_properties(tree_sitter_python PROPERTIES C_STANDARD 11 POSITION_INDEPENDENT_CODE ON)
target_compile_options(tree_sitter_python PRIVATE -w)
if(OOMLINT_SANITIZE)
  target_link_libraries(tree_sitter_python PRIVATE oomlint_settings)
endif()
