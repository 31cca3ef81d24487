// The benchmark's baseline: read and parse the same files with tree-sitter alone, on the same
// number of threads as `oomlint check --jobs N`, and do nothing else.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <tree_sitter/api.h>

extern "C" const TSLanguage* tree_sitter_python();

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: parse_only JOBS FILE_LIST\n");
    return 2;
  }
  const int jobs = std::stoi(argv[1]);
  std::vector<std::string> files;
  std::ifstream list(argv[2]);
  for (std::string line; std::getline(list, line);) {
    if (!line.empty()) {
      files.push_back(line);
    }
  }
  std::atomic<size_t> next{0};
  std::atomic<size_t> nodes{0};
  const auto start = std::chrono::steady_clock::now();
  auto worker = [&] {
    TSParser* parser = ts_parser_new();
    ts_parser_set_language(parser, tree_sitter_python());
    for (size_t i = next.fetch_add(1); i < files.size(); i = next.fetch_add(1)) {
      std::ifstream in(files[i], std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      const std::string text = ss.str();
      TSTree* tree = ts_parser_parse_string(parser, nullptr, text.data(), static_cast<uint32_t>(text.size()));
      nodes += ts_node_child_count(ts_tree_root_node(tree));
      ts_tree_delete(tree);
    }
    ts_parser_delete(parser);
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < jobs; ++t) {
    pool.emplace_back(worker);
  }
  for (auto& t : pool) {
    t.join();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%zu files parsed in %.3f s (%zu top-level nodes)\n", files.size(), seconds, nodes.load());
  return 0;
}
